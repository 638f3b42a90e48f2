"""video-knet: Video K-Net for video panoptic segmentation on today's PyTorch.

The runtime dependencies are declared here as ranges (what the code needs), not read from
``requirements.txt``, which pins the exact torch / torchvision build pair and mmengine version of
our machines and CI and also lists the test runner.
"""
from pathlib import Path

from setuptools import find_packages, setup

#: What importing and running the packages needs. torch / torchvision: any matching pair from
#: torch 2.1 on; mmengine 0.10.x: knet.engine.checkpoint replaces that line's local-file loader.
INSTALL_REQUIRES = [
    'torch>=2.1',
    'torchvision>=0.16',
    'mmengine>=0.10,<0.11',
    'mmcv-lite>=2.0,<3',
    'numpy>=1.24',
    'scipy>=1.10',
    'opencv-python>=4.8',
    'Pillow>=9.5',
    'tqdm>=4.60',
    'imageio-ffmpeg>=0.4.9',
]

setup(
    name='video-knet',
    version='0.1.0',
    description='Video K-Net / K-Net for video panoptic segmentation (KITTI-STEP, Cityscapes-STEP)',
    long_description=Path(__file__).with_name('README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    license='MIT',
    license_files=['LICENSE'],
    python_requires='>=3.9',
    packages=find_packages(include=['vseg', 'vseg.*', 'knet', 'knet.*', 'video_knet',
                                    'video_knet.*']),
    install_requires=INSTALL_REQUIRES,
    extras_require={'test': ['pytest>=7.0']},
)
