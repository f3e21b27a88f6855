"""Finding where a model repeats itself, and writing it as `blocks:` with `repeat`,
`first` and `vary`.

1. **Segments** (`segments`): the graph is cut wherever one tensor alone is alive, which
   isolates residual blocks, dense-block layers and Inception modules; a long piece whose
   inside repeats with two tensors alive (NASNet's cells) is cut into two-input pieces
   (`two_inputs`).
2. **Runs and units** (`calls`): consecutive pieces of the same structure become one call
   with `repeat:`; a repeating sequence of runs becomes a block of blocks.
3. **Definitions** (`definitions`): a piece that occurs twice or more becomes a block;
   arguments that differ between copies become its parameters, written once per call as
   `first:` (only copy 0 differs: ResNet's first block of a stage) or `vary:` (one value
   per copy; `values` decides which).
"""

from __future__ import annotations

from modelspec.importer.blocks.calls import FoundBlocks, Writer, runs
from modelspec.importer.blocks.segments import absorb_activations, segments
from modelspec.importer.blocks.two_inputs import split_repeating
from modelspec.importer.keras_graph import ImportNode

__all__ = ["FoundBlocks", "find_blocks"]


def find_blocks(nodes: list[ImportNode], only_input: str | None, outputs: set[str],
                block_names: set | None = None) -> tuple[FoundBlocks, dict[str, str]]:
    """Finds repeated structure in `nodes` and returns blocks and the model's items.

    Args:
        nodes: The graph's nodes in creation order.
        only_input: The graph's input when it has exactly one (the first layer reads it).
        outputs: Ids of the nodes the model's outputs read.
        block_names: Block names already taken (by other models of the spec); updated.

    Returns:
        The blocks and items, and the names under which nodes that were folded into block
        calls are written (a block call's id stands for its last layer's output).
    """
    pieces = split_repeating(segments(nodes, only_input, outputs), nodes)
    tokens = runs(absorb_activations(pieces))
    writer = Writer(tokens, {node.id for node in nodes}, only_input,
                    block_names if block_names is not None else set())
    return writer.write()
