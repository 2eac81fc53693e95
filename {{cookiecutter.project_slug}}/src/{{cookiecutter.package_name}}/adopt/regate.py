"""After `make tune`: the evaluation gate re-derived for the model that will now be trained.

init-data sets `evaluation.thresholds` between a dummy model and the configured model,
cross-validated on the training split (`baseline`). `make tune` then changes the model, and
the tuned one can sit below a bound it was never measured against. On a weak-signal binary
table, a model tuned for ROC AUC predicted no positive at P = 0.5: F1 fell from the 0.15
init-data measured to 0, and `make pipeline` refused it. So `pipeline.tune` cross-validates
the tuned configuration the same way and rewrites the block. A block edited by hand is kept,
and the report says so.
"""

from __future__ import annotations

from {{ cookiecutter.package_name }}.adopt.baseline import cross_validated, evaluation_section
from {{ cookiecutter.package_name }}.adopt.blocks import atomic_write, current_block, is_pristine, replace_block
from {{ cookiecutter.package_name }}.adopt.render import evaluation_block
from {{ cookiecutter.package_name }}.contracts.config import load_model_config
from {{ cookiecutter.package_name }}.data import read_table
from {{ cookiecutter.package_name }}.settings import Settings


def regate(settings: Settings) -> str:
    """Rewrite `evaluation:` for the configured model (unless edited by hand); one line."""
    path = settings.resolve(settings.pipeline.model_config_file)
    text = path.read_text(encoding="utf-8")
    current = current_block(text, "evaluation")
    if current is not None and not is_pristine(current):
        return (
            "evaluation thresholds: edited by hand, kept (check them against the tuned model; "
            "init-data --force re-derives them)"
        )
    config = load_model_config(path)
    frame = read_table(settings.resolve(config.dataset.path))
    frame.columns = [str(name) for name in frame.columns]
    reached = cross_validated(frame, config, settings.seed)
    section, measured = evaluation_section(frame, config.dataset, settings.seed, reached)
    block = evaluation_block(section, measured, reached)
    where = str(settings.pipeline.model_config_file)
    atomic_write({path: replace_block(text, "evaluation", block, force=True, where=where)})
    bounds = ", ".join(f"{name} {value}" for name, value in section["thresholds"].items())
    return f"evaluation thresholds re-derived for the tuned model: {bounds}"
