"""Fixtures of the evaluation tests: tiny STEP-format ground truth + result PNGs."""
from pathlib import Path
from typing import Tuple

import pytest
from eval_helpers import SEQUENCES, write_gt_png, write_result_pngs


@pytest.fixture
def step_dirs(tmp_path: Path) -> Tuple[Path, Path]:
    """(results_dir, gt_dir) holding :data:`SEQUENCES`; sequence 2's folder is unpadded and
    sequence 13's padded, as both codebases write."""
    gt_dir, results = tmp_path / 'gt', tmp_path / 'results'
    gt_dir.mkdir()
    for seq, frames in SEQUENCES.items():
        folder = results / 'panoptic' / (str(seq) if seq == 2 else f'{seq:06d}')
        for frame, (gt, pred) in enumerate(frames):
            write_gt_png(gt_dir / f'{seq:06d}_{frame:06d}_panoptic.png', gt)
            write_result_pngs(folder, seq, frame, pred)
    return results, gt_dir
