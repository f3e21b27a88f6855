"""Names of blocks, block calls and block-local layers, made from Keras's layer names
(`conv2_block1_1_conv` → block `conv_block`, local id `1_conv` → `conv_1`)."""

from __future__ import annotations

import re

BLOCK_INPUT = "input"
TWO_INPUTS = ["x", "skip"]   # a two-input block: the previous piece's output, the one before


def prefix(names: list[str]) -> str:
    """The longest common prefix of `names` that ends at an underscore ('' if none)."""
    if len(names) < 2:
        return ""
    common = names[0]
    for name in names[1:]:
        while not name.startswith(common):
            common = common[:-1]
    cut = common.rfind("_")
    return common[:cut + 1] if cut >= 0 else ""


def tidy(text: str, fallback: str) -> str:
    """`text` as an identifier (digits moved after the words), else `fallback`."""
    text = re.sub(r"__+", "_", text).strip("_")
    if text and text[0].isdigit():  # "1_conv" → "conv_1": ids start with a letter
        parts = text.split("_")
        words = [p for p in parts if not p.isdigit()]
        text = "_".join(words + [p for p in parts if p.isdigit()]) if words else ""
    return text if re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", text or "") else fallback


def block_name(common: str, fallback: str) -> str:
    return tidy(re.sub(r"\d+", "", common), fallback)


def unique(name: str, taken: set) -> str:
    """`name`, or `name_2`, `name_3`, ... if taken; adds it to `taken`."""
    candidate, n = name, 1
    while candidate in taken or candidate == BLOCK_INPUT or candidate in TWO_INPUTS:
        n += 1
        candidate = f"{name}_{n}"
    taken.add(candidate)
    return candidate
