"""Instance re-weighting and TCA (`modelspec.techniques.transfer.methods`) and `modelspec
transfer`, on small two-domain problems whose answer is known."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner


def _shifted(n: int = 200, shift: float = 2.0, seed: int = 0):
    """Two classes split by x₀ + x₁ > 0; the target domain is the source moved by `shift`
    along x₂, a feature no label depends on."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2 * n, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    domain = np.r_[np.zeros(n), np.ones(n)].astype(int)
    x[n:, 2] += shift
    return x, y, domain


def test_importance_weights_favour_source_rows_that_look_like_the_target():
    from modelspec.techniques.transfer.methods import importance_weights, split_domains
    domains = split_domains(*_shifted())
    weights = importance_weights(domains.source_x, domains.target_x)
    assert weights.mean() == pytest.approx(1.0)
    near = domains.source_x[:, 2] > 1.0               # source rows on the target's side
    assert weights[near].mean() > 3 * weights[~near].mean()


def test_tca_components_remove_the_domain_shift():
    """The transfer components are chosen to make the domains' means coincide (MMD)."""
    from modelspec.techniques.transfer.methods import split_domains, tca
    domains = split_domains(*_shifted())
    zs, zt = tca(domains.source_x, domains.target_x, components=2, mu=1.0)
    assert zs.shape == (200, 2) and zt.shape == (200, 2)
    gap = np.abs(zs.mean(0) - zt.mean(0)) / np.r_[zs, zt].std(0)
    raw_gap = abs(domains.source_x[:, 2].mean() - domains.target_x[:, 2].mean())
    assert gap.max() < 0.05 < raw_gap


def test_compare_scores_all_three_methods_on_the_target():
    from modelspec.techniques.transfer.methods import compare, split_domains
    result = compare(split_domains(*_shifted()), components=2, mu=1.0)
    # the label does not depend on the shifted feature: every method transfers well
    assert min(result.source_only, result.reweighted, result.tca) > 0.9
    assert 1 < result.effective_sample_size < 200


def test_split_domains_needs_both_domains():
    from modelspec.techniques.transfer.methods import split_domains
    x, y, _ = _shifted(10)
    with pytest.raises(ValueError, match="one of the two is empty"):
        split_domains(x, y, np.zeros(len(x)))


def _csv_spec(tmp_path):
    x, y, domain = _shifted(60)
    rows = ["a,b,c,label,domain"] + [f"{r[0]:.4f},{r[1]:.4f},{r[2]:.4f},{c},{d}"
                                     for r, c, d in zip(x, y, domain, strict=True)]
    (tmp_path / "domains.csv").write_text("\n".join(rows) + "\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text("""\
modelspec: 1
name: domains
model:
  inputs: {x: {shape: [3]}}
  layers: [{id: out, type: Dense, units: 2, activation: softmax}]
  outputs: {label: out}
data:
  source: {type: csv, path: domains.csv}
  transforms: [{type: stack, fields: [a, b, c], output: x}]
  features: {x: x}
  targets: {label: label}
train: {loss: sparse_categorical_crossentropy, optimizer: adam}
""")
    return spec


def test_transfer_command_reports_the_three_accuracies(tmp_path):
    from modelspec.cli.main import main
    spec = _csv_spec(tmp_path)
    result = CliRunner().invoke(main, ["transfer", str(spec), "--features", "a,b,c",
                                       "--components", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) >= {"source_only", "reweighted", "tca", "effective_sample_size"}
    assert report["source_only"] > 0.9
    text = CliRunner().invoke(main, ["transfer", str(spec), "--features", "a,b,c",
                                     "--components", "2"])
    assert "60 source, 60 target examples" in text.output
    assert "instance re-weighting" in text.output and "TCA, 2 components" in text.output


def test_transfer_command_names_missing_fields(tmp_path):
    from modelspec.cli.main import main
    result = CliRunner().invoke(main, ["transfer", str(_csv_spec(tmp_path))])
    assert result.exit_code == 2
    assert "no field 'image'" in result.output
    assert "(fields: a, b, c, label, domain)" in result.output
