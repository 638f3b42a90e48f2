"""Project hygiene: the licence, the citation file and the runtime dependencies of setup.py.

The mistakes: no LICENSE and no CITATION.cff; setup.py installed requirements.txt verbatim, so
``pip install video-knet`` pulled pytest and demanded the exact torch build pair of our machines.
"""
import ast
from typing import List

import yaml
from helpers import REPO
from packaging.requirements import Requirement


def _install_requires() -> List[Requirement]:
    """``INSTALL_REQUIRES`` of setup.py, read without running it."""
    tree = ast.parse((REPO / 'setup.py').read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == 'INSTALL_REQUIRES':
            return [Requirement(text) for text in ast.literal_eval(node.value)]
    raise AssertionError('setup.py has no INSTALL_REQUIRES')


def _pinned() -> List[Requirement]:
    lines = (REPO / 'requirements.txt').read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith('#')]


def test_runtime_dependencies_are_ranges_the_pins_satisfy() -> None:
    required = {req.name.lower(): req for req in _install_requires()}
    assert 'pytest' not in required
    assert str(required['torch'].specifier) == '>=2.1'
    assert 'read_requirements' not in (REPO / 'setup.py').read_text()
    pinned = {req.name.lower(): req for req in _pinned()}
    assert str(pinned['torch'].specifier) == '==2.14.1'  # the exact pair stays pinned there
    assert str(pinned['torchvision'].specifier) == '==0.29.1'
    for name, req in required.items():  # our machines' pins fulfil what setup.py asks
        pin = pinned[name].specifier
        version = next(iter(pin)).version if str(pin).startswith('==') else None
        if version is not None:
            assert req.specifier.contains(version), (name, str(req.specifier), version)
    assert set(pinned) - set(required) == {'pytest'}


def test_license_and_citation() -> None:
    license_text = (REPO / 'LICENSE').read_text()
    assert license_text.startswith('MIT License\n')
    assert 'video-knet contributors' in license_text.splitlines()[2]
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in license_text
    citation = yaml.safe_load((REPO / 'CITATION.cff').read_text())
    assert citation['cff-version'] == '1.2.0' and citation['license'] == 'MIT'
    paper = citation['preferred-citation']
    assert paper['title'].startswith('Video K-Net: A Simple, Strong, and Unified Baseline')
    assert [a['family-names'] for a in paper['authors']] == [
        'Li', 'Zhang', 'Pang', 'Chen', 'Cheng', 'Tong', 'Loy']
    assert paper['year'] == 2022 and 'CVPR' in paper['collection-title']
    (knet, ) = citation['references']
    assert knet['title'] == 'K-Net: Towards Unified Image Segmentation' and knet['year'] == 2021
    assert [a['family-names'] for a in knet['authors']] == ['Zhang', 'Pang', 'Chen', 'Loy']


def test_setup_declares_the_license() -> None:
    text = (REPO / 'setup.py').read_text()
    assert "license='MIT'" in text and "license_files=['LICENSE']" in text
