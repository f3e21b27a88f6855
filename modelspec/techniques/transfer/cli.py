"""`modelspec transfer SPEC`: instance re-weighting and TCA on a spec's two data domains.

The spec's `data.source` must yield a features field, a label field and a domain field (0 for
the source domain, anything else for the target domain), as `specs/dann.yaml`'s generated
digit domains do; the methods are in `modelspec.techniques.transfer.methods`. Wired into
`modelspec.cli.main` lazily (`transfer_command`).
"""

from __future__ import annotations

import json
from typing import Any

import click

from modelspec.cli.util import data_dir_option, handle_errors
from modelspec.errors import UsageError


def _source_fields(spec_path: str, params: tuple[str, ...]) -> dict[str, Any]:
    """The spec's `data.source` examples (every split), field → array."""
    from modelspec.cli.params import parse_param_overrides
    from modelspec.data.source_base import ArraySource
    from modelspec.data.sources import load_source
    from modelspec.lang.checks import load_and_check
    spec = load_and_check(spec_path, overrides=parse_param_overrides(params) or None)
    data = spec.section("data") or {}
    if "source" not in data:
        raise UsageError(f"{spec_path}: the spec has no data.source")
    source_cfg = dict(data["source"])
    if source_cfg.get("type") == "generated":
        source_cfg.setdefault("seed", int(data.get("seed", 0)))
    errs = spec.errors()
    source = load_source(source_cfg, spec.base_dir, errs)
    errs.raise_if_any()
    if not isinstance(source, ArraySource):
        raise UsageError("transfer reads in-memory sources (generated, sklearn, csv, idx, ...); "
                         f"'{source_cfg.get('type')}' streams its examples")
    return source.arrays("all", seed=0, shuffle=False)


@click.command("transfer")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE",
              help="Override a spec parameter, e.g. -p seed=1.")
@click.option("--features", default="image", show_default=True,
              help="The source field(s) classified, comma-separated (each flattened, then "
                   "side by side), e.g. image or x1,x2.")
@click.option("--label", default="label", show_default=True, help="The class field.")
@click.option("--domain", default="domain", show_default=True,
              help="The domain field: 0 = source domain, other values = target domain.")
@click.option("--components", default=20, show_default=True, type=click.IntRange(1),
              help="TCA: the number of transfer components.")
@click.option("--mu", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="TCA: the trade-off μ (regularises the components).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@data_dir_option
@handle_errors
def transfer_command(spec: str, params: tuple[str, ...], features: str, label: str, domain: str,
                     components: int, mu: float, as_json: bool) -> None:
    """Source-only vs. instance re-weighting vs. TCA (lecture T), scored on the target domain.

    Every classifier is a logistic regression trained on the labelled source domain only;
    the target domain's labels are used to score it, never to train.

    \b
    Examples:
      modelspec transfer specs/dann.yaml                  # clean → blended digits
      modelspec transfer specs/dann.yaml -p seed=1 --components 30 --mu 0.1
      modelspec transfer domains.yaml --features a,b,c --json
    """
    import numpy as np

    from modelspec.techniques.transfer.methods import compare, split_domains
    fields = _source_fields(spec, params)
    feature_names = [f.strip() for f in features.split(",") if f.strip()]
    missing = [f for f in (*feature_names, label, domain) if f not in fields]
    if missing:
        raise UsageError(f"the spec's source has no field {', '.join(repr(m) for m in missing)} "
                         f"(fields: {', '.join(fields)}); choose them with --features, --label, "
                         "--domain")
    try:
        x = np.hstack([np.asarray(fields[f], np.float64).reshape(len(fields[f]), -1)
                       for f in feature_names])
        domains = split_domains(x, fields[label], fields[domain])
    except ValueError as err:
        raise UsageError(f"--domain '{domain}': {err}") from None
    if components > len(domains.source_x) + len(domains.target_x):
        raise UsageError(f"--components {components}: more than the examples")
    result = compare(domains, components, mu)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    click.echo(f"{len(domains.source_x)} source, {len(domains.target_x)} target examples; "
               "target-domain accuracy:")
    click.echo(f"  source only              {result.source_only:.4f}")
    click.echo(f"  instance re-weighting    {result.reweighted:.4f}   (weights: mean 1, max "
               f"{result.max_weight:.2f}, effective sample size "
               f"{result.effective_sample_size:.0f})")
    click.echo(f"  TCA, {components} components, μ={mu:g}  {result.tca:.4f}")
