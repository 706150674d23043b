"""One config path for every command: dataclass defaults < `--config` TOML < options; the
engine refuses what the command line refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from reidkit.commands.app import COMMANDS, app
from reidkit.config import at_most_one
from reidkit.errors import ConfigError

runner = CliRunner()
NO_CONFIG = {"data", "recipes", "doctor"}  # commands without a config dataclass

# command, its module, the stage runner it calls, options it needs, the key, its dataclass
# default, a TOML value, an option (args) and the value that option gives.
CASES = [
    ("cluster", "cluster", "run_cluster", ["--dataset", "market", "--data-root", "d",
     "--checkpoint", "c.pt"], "k1", 30, 20, ["--k1", "25"], 25),
    ("eval", "eval", "run_eval", ["--dataset", "market", "--data-root", "d", "--checkpoint",
     "c.pt"], "batch_size", 64, 32, ["--batch-size", "8"], 8),
    ("export", "export", "run_export", ["--checkpoint", "c.pt"], "opset", 17, 18,
     ["--opset", "19"], 19),
    ("synth", "synth", "run_synth", ["--out", "o"], "size", (128, 64), [64, 32],
     ["--size", "96x48"], (96, 48)),
    ("generate", "generate", "run_generate", ["--checkpoint", "c.pt"], "steps", 8, 4,
     ["--steps", "5"], 5),
    ("demo", "demo", "run_demo", [], "seed", 0, 3, ["--seed", "5"], 5),
    ("import", "import_ckpt", "run_import", ["--out", "o.pt", "--id", "id.pt"], "stage",
     "train-joint", "warmup", ["--stage", "gen-warmup"], "gen-warmup"),
    ("mesh", "mesh", "run_mesh", ["--dataset", "market", "--data-root", "d", "--out", "m"],
     "angles", (45, 90, 135, 180, 225, 270, 315), [90, 180], ["--angles", "45,270"],
     (45, 270)),
    ("score-gen", "score_gen", "run_score_gen", ["--real", "r"], "ssim_channels", "grey",
     "rgb", ["--ssim-channels", "grey"], "grey"),
    ("gen-warmup", "gen_warmup", "run_gen_warmup", ["--run", "r"], "epochs", 40, 3,
     ["--epochs", "2"], 2),
    ("train-joint", "train_joint", "run_train_joint", ["--run", "r"], "lr_id", 3.5e-4, 1e-3,
     ["--lr-id", "2e-3"], 2e-3),
]


def toml_value(value) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


@pytest.fixture
def captured(monkeypatch):
    """Replace a command's stage runner: record the config it is handed, return no result."""
    seen: list = []

    def patch(module: str, runner_name: str) -> list:
        monkeypatch.setattr(f"reidkit.commands.{module}.{runner_name}",
                            lambda config: seen.append(config) or {})
        return seen

    return patch


def invoke(args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name, module, stage, needed, key, default, in_toml, option, given",
                         CASES, ids=[c[0] for c in CASES])
def test_defaults_then_toml_then_options(captured, tmp_path, name, module, stage, needed, key,
                                         default, in_toml, option, given):
    seen = captured(module, stage)
    file = tmp_path / "c.toml"
    file.write_text(f"{key} = {toml_value(in_toml)}\n")
    invoke([name, *needed])
    invoke([name, *needed, "--config", str(file)])
    invoke([name, *needed, "--config", str(file), *option])
    expected_toml = tuple(in_toml) if isinstance(in_toml, list) else in_toml
    assert [getattr(c, key) for c in seen] == [default, expected_toml, given]


def test_required_options_may_come_from_the_toml(captured, tmp_path):
    seen = captured("cluster", "run_cluster")
    file = tmp_path / "c.toml"
    file.write_text('dataset = "duke"\ndata_root = "data/duke"\ncheckpoint = "w.pt"\n')
    invoke(["cluster", "--config", str(file)])
    assert (seen[0].dataset, seen[0].data_root, seen[0].checkpoint) == (
        "duke", Path("data/duke"), Path("w.pt"))


def test_an_absent_on_switch_keeps_the_toml_and_an_off_switch_overrides_it(captured, tmp_path):
    seen = captured("gen_warmup", "run_gen_warmup")
    file = tmp_path / "c.toml"
    file.write_text("amp = true\nchannels_last = true\n")
    invoke(["gen-warmup", "--run", "r", "--config", str(file)])
    invoke(["gen-warmup", "--run", "r", "--config", str(file), "--no-amp"])
    assert [(c.amp, c.channels_last) for c in seen] == [(True, True), (False, True)]


def test_an_option_of_an_exclusive_pair_replaces_the_toml_one(captured, tmp_path):
    seen = captured("cluster", "run_cluster")
    file = tmp_path / "c.toml"
    file.write_text('dataset = "market"\ndata_root = "d"\ncheckpoint = "c.pt"\nrho = 0.003\n'
                    "temporal = true\n")
    invoke(["cluster", "--config", str(file)])
    invoke(["cluster", "--config", str(file), "--eps", "0.5"])
    assert [(c.eps, c.rho, c.temporal) for c in seen] == [(None, 0.003, True), (0.5, None, True)]


def test_the_old_spelling_of_batch_size_still_works(captured):
    seen = captured("gen_warmup", "run_gen_warmup")
    invoke(["gen-warmup", "--run", "r", "--batch", "4"])
    assert seen[0].batch_size == 4


@pytest.mark.parametrize("module, stage, args, hint", [
    ("synth", "run_synth", ["synth", "--out", "o", "--size", "96"], "HEIGHTxWIDTH"),
    ("generate", "run_generate", ["generate", "--checkpoint", "c.pt", "--swap", "a"],
     "comma-separated"),
    ("mesh", "run_mesh", ["mesh", "--dataset", "market", "--data-root", "d", "--out", "m",
                          "--angles", "45,x"], "'x'"),
])
def test_bad_option_text_is_a_usage_error(captured, module, stage, args, hint):
    seen = captured(module, stage)
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2 and hint in result.output and seen == []


@pytest.mark.parametrize("name", [n for n, _ in COMMANDS if n not in NO_CONFIG])
def test_every_config_command_takes_config(name):
    command = typer.main.get_command(app).commands[name]
    assert any("--config" in p.opts for p in command.params)


def test_at_most_one_counts_the_given_fields():
    class Config:
        eps, rho, steps = 0.5, None, 0

    at_most_one(Config(), "eps", "rho", fix="one")
    Config.rho = 0.002
    with pytest.raises(ConfigError, match="--eps and --rho are exclusive"):
        at_most_one(Config(), "eps", "rho", fix="one")


def test_engines_refuse_what_the_command_line_refuses(tmp_path):
    from reidkit.stages.cluster import ClusterConfig, run_cluster
    from reidkit.stages.eval import EvalConfig, run_eval
    from reidkit.stages.generate import GenerateConfig, run_generate
    from reidkit.stages.import_ckpt import ImportConfig, run_import
    from reidkit.stages.synth import SynthConfig, run_synth

    absent = tmp_path / "absent.pt"
    refused = [
        (lambda: run_generate(GenerateConfig(checkpoint=absent, swap=("a", "b"),
                                             interpolate=("a", "b"))),
         "--swap and --interpolate are exclusive"),
        (lambda: run_cluster(ClusterConfig(dataset="market", data_root=tmp_path,
                                           checkpoint=absent, eps=0.5, rho=0.002)),
         "--eps and --rho are exclusive"),
        (lambda: run_cluster(ClusterConfig(data_root=tmp_path, checkpoint=absent)),
         "no --dataset given"),
        (lambda: run_eval(EvalConfig(checkpoint=absent)), "no --dataset given"),
        (lambda: run_import(ImportConfig(out=tmp_path / "o.pt", format="dgnet", id_path=absent)),
         "unknown --format 'dgnet'"),
        (lambda: run_synth(SynthConfig()), "no --out given"),
    ]
    for call, message in refused:
        with pytest.raises(ConfigError, match=message):
            call()
    assert not absent.exists()
