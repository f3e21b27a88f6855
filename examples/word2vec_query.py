"""Nearest neighbours and analogies with the word vectors of a trained word2vec run.

Loads the run with `modelspec.training.checkpoints.load_run`, takes the embedding table of the
layer `word_vectors` (the spec's target embedding), and rebuilds the vocabulary exactly as the
run's data pipeline did: the spec's `tokenize` transform adapted on the spec's train split
(same source, split expression and seed). Similarities are cosine similarities.

An analogy "A is to B as C is to ?" ranks every vocabulary word (except A, B, C, the padding
and the out-of-vocabulary token) by its cosine similarity to C − A + B (unit vectors, as in
Mikolov et al. 2013); with a fourth word D, the expected answer, it also prints D's rank.

Example:
    python examples/word2vec_query.py examples/runs/word2vec --words justice soul \
        --analogy man woman he she   # he − man + woman ≈ she? prints the top 8 and her rank
"""

import argparse

import numpy as np


def vocabulary(spec) -> list[str]:
    """The token list of the spec's `tokenize` transform, adapted like the pipeline does."""
    from modelspec.data.sources import load_source
    from modelspec.data.transforms import make_step

    data = spec.section("data")
    seed = int(data.get("seed", 0))
    errs = spec.errors()
    source = load_source(dict(data["source"]), spec.base_dir, errs)
    errs.raise_if_any()
    train, _ = source.select(data["splits"]["train"], seed, data.get("split_shuffle"))
    configs = data.get("transforms") or []
    if not configs or configs[0]["type"] != "tokenize":
        raise SystemExit("this script expects the spec's first transform to be `tokenize`")
    step = make_step(configs[0])
    step.adapt(train)
    return list(step.layer.get_vocabulary())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run directory written by `modelspec train`")
    parser.add_argument("--layer", default="word_vectors", help="the embedding layer's id")
    parser.add_argument("--words", nargs="*", default=[], help="words to list neighbours of")
    parser.add_argument("--analogy", nargs="+", action="append", default=[],
                        metavar="WORD", help="A B C [D]: A is to B as C is to ? (C − A + B), "
                        "with D the expected answer, whose rank is printed; repeatable")
    parser.add_argument("-k", type=int, default=8, help="how many neighbours")
    args = parser.parse_args()

    from modelspec.training.checkpoints import load_run

    spec, models, _ = load_run(args.run)
    (model,) = models.values()
    table = np.asarray(model.get_layer(args.layer).get_weights()[0])
    words = vocabulary(spec)
    if len(words) != table.shape[0]:
        raise SystemExit(f"vocabulary has {len(words)} tokens but the table {table.shape[0]} rows")
    index = {w: i for i, w in enumerate(words)}
    unit = table / np.maximum(np.linalg.norm(table, axis=1, keepdims=True), 1e-9)

    def similarities(vector, exclude):
        sims = unit @ (vector / max(np.linalg.norm(vector), 1e-9))
        sims[:2] = -np.inf                      # padding and out-of-vocabulary ids
        for i in exclude:
            sims[i] = -np.inf
        return sims

    def nearest(sims):
        top = np.argsort(-sims)[: args.k]
        return ", ".join(f"{words[i]} {sims[i]:.2f}" for i in top)

    def known(word):
        if word not in index:
            print(f"{word}: not in the vocabulary")
        return word in index

    for word in args.words:
        if known(word):
            print(f"{word}: {nearest(similarities(unit[index[word]], [index[word]]))}")
    for query in args.analogy:
        if len(query) not in (3, 4):
            parser.error(f"--analogy takes A B C or A B C D, not {' '.join(query)}")
        if not all(known(word) for word in query):
            continue
        a, b, c = (index[word] for word in query[:3])
        sims = similarities(unit[c] - unit[a] + unit[b], [a, b, c])
        print(f"{query[2]} - {query[0]} + {query[1]}: {nearest(sims)}")
        if len(query) == 4:
            d = index[query[3]]
            rank = 1 + int(np.sum(sims > sims[d]))
            candidates = int(np.sum(np.isfinite(sims)))
            print(f"  expected {query[3]}: rank {rank} of {candidates} (cosine {sims[d]:.2f})")


if __name__ == "__main__":
    main()
