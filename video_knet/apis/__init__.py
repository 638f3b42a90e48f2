"""High-level helpers used by the tools: ablation-study definitions and result tables."""
from .ablation import (Experiment, config_experiments, data_root_of, data_root_options,
                       find_key_paths, format_percent, load_experiments_file, merged_config,
                       required_paths, results_markdown, results_table, study_experiments)

__all__ = [
    'Experiment', 'config_experiments', 'data_root_of', 'data_root_options', 'find_key_paths',
    'format_percent', 'load_experiments_file', 'merged_config', 'required_paths',
    'results_markdown', 'results_table', 'study_experiments'
]
