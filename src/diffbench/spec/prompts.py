"""Default prompts: the seeds' prompt first, then varied scenes (all words known to the local tokenizer)."""

DEFAULT = (
    "a dog surfing on moon",
    "a photo of an astronaut riding a horse on the beach at sunset",
    "two red circles on a blue background",
    "a small wooden house in a snow forest at night",
    "a portrait of a robot wearing a golden helmet, cinematic lighting",
    "a cup of coffee on a wooden table next to a window, morning light",
    "a colorful illustration of a city street with neon lights",
    "three yellow stars above a green triangle on a white background",
)


def for_batch(batch: int, prompts: tuple[str, ...] = DEFAULT) -> list[str]:
    return [prompts[i % len(prompts)] for i in range(batch)]
