"""video-knet: Video K-Net for video panoptic segmentation on today's PyTorch."""
from pathlib import Path

from setuptools import find_packages, setup


def read_requirements() -> list:
    lines = Path(__file__).with_name('requirements.txt').read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith('#')]


setup(
    name='video-knet',
    version='0.1.0',
    description='Video K-Net / K-Net for video panoptic segmentation (KITTI-STEP, Cityscapes-STEP)',
    long_description=Path(__file__).with_name('README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    python_requires='>=3.9',
    packages=find_packages(include=['vseg', 'vseg.*', 'knet', 'knet.*', 'video_knet',
                                    'video_knet.*']),
    install_requires=read_requirements(),
)
