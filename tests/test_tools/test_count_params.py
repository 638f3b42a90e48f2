"""Tests of tools/analysis/count_params.py on a small FPN config written to a temp dir."""
import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

TOOL = Path(__file__).resolve().parents[2] / 'tools' / 'analysis' / 'count_params.py'


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('count_params', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def config(tmp_path) -> str:
    path = tmp_path / 'fpn_cfg.py'
    path.write_text("default_scope = 'knet'\n"
                    "model = dict(type='FPN', in_channels=[8, 16], out_channels=4, num_outs=2)\n")
    return str(path)


def test_count_parameters_per_child(tool) -> None:
    model = nn.Sequential()
    model.add_module('a', nn.Linear(3, 2))  # 8
    model.add_module('b', nn.Sequential(nn.ReLU(), nn.Linear(2, 5)))  # 15
    model.scale = nn.Parameter(torch.ones(2))  # 2 direct
    assert tool.count_parameters(model) == {'a': 8, 'b': 15, '(direct)': 2, 'total': 25}
    tied = nn.ModuleDict(dict(x=nn.Linear(2, 2), y=nn.Linear(2, 2)))
    tied.y.weight = tied.x.weight  # shared weight counted once in the total
    assert tool.count_parameters(tied) == {'x': 6, 'y': 6, 'total': 8}


def test_main_prints_children_and_total_last(tool, config, capsys) -> None:
    counts = tool.main([config])
    lines = capsys.readouterr().out.strip().splitlines()
    # laterals 4*8+4 + 4*16+4 = 104; fpn convs 2 * (4*4*9 + 4) = 296.
    assert lines == ['lateral_convs: 104', 'fpn_convs: 296', 'total: 400']
    assert counts['total'] == 400


def test_cfg_options_override(tool, config, capsys) -> None:
    tool.main([config, '--cfg-options', 'model.out_channels=8'])
    # laterals 8*8+8 + 8*16+8 = 208; fpn convs 2 * (8*8*9 + 8) = 1168.
    assert capsys.readouterr().out.strip().splitlines()[-1] == 'total: 1376'


def test_config_without_model(tool, tmp_path) -> None:
    path = tmp_path / 'empty.py'
    path.write_text('a = 1\n')
    with pytest.raises(KeyError, match='no `model` key'):
        tool.main([str(path)])
