"""Point labels on the report's plots, moved apart so that none covers another."""

from __future__ import annotations

OFFSET = (7, 4)  # points right of and above the marker


def annotate(ax, text: str, xy: tuple[float, float]):
    """A label at OFFSET from its point; once moved off it, a thin line leads back."""
    return ax.annotate(text, xy, xytext=OFFSET, textcoords="offset points", fontsize=8,
                       arrowprops=dict(arrowstyle="-", color="0.6", lw=0.5, shrinkA=0, shrinkB=4))


def spread(fig, ax, labels) -> None:
    """Move each label (lowest point first) the least distance up or down that keeps it clear of the labels
    already placed, and inside the axes where possible (near points: same memory, close times)."""
    fig.canvas.draw()
    frame = ax.get_window_extent()
    shifts = [0, *(sign * step for step in range(2, 2000, 2) for sign in (1, -1))]  # nearest first
    placed = []
    for text in sorted(labels, key=lambda t: t.xy[1]):
        box = text.get_window_extent().expanded(1.0, 1.3)  # a little air between lines
        first_clear = None
        for d in shifts:
            if any(box.translated(0, d).overlaps(other) for other in placed):
                continue
            first_clear = d if first_clear is None else first_clear
            if frame.y0 <= box.y0 + d and box.y1 + d <= frame.y1:
                shift = d
                break
        else:
            shift = first_clear or 0
        if shift:
            text.set_position((OFFSET[0], OFFSET[1] + shift * 72 / fig.dpi))
        placed.append(box.translated(0, shift))
