"""mkdocs hook: the pictures committed under baselines/ (the reports' plots, the proxy's sample grid) shown on the
guide's pages.

A page links such a picture by its path in the repository relative to the page (`../baselines/...png`), the link
GitHub resolves and the one `diffbench report --readme docs/results.md` writes. Those files lie outside docs/, so
mkdocs would not find them (a broken link in strict mode): this hook adds each to the site under that same source
path, written to `baselines/...` beside the pages, so the links resolve and are validated like any other, and
nothing is copied into docs/ by hand. tests/test_docs.py builds the site strictly and checks the pictures are there.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files, InclusionLevel

PICTURES = "baselines"  # the folder, beside docs/, whose PNGs the pages may show


def on_files(files: Files, config) -> Files:
    docs = Path(config.docs_dir)
    for picture in sorted((docs.parent / PICTURES).rglob("*.png")):
        uri = picture.relative_to(docs.parent).as_posix()
        files.append(File(f"../{uri}", src_dir=str(docs), dest_dir=config.site_dir,
                          use_directory_urls=config.use_directory_urls, dest_uri=uri,
                          inclusion=InclusionLevel.INCLUDED))  # mkdocs's default would exclude a path with `..`
    return files
