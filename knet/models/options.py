"""Typed options: the checks behind every option of our models' configs.

A model option that is misspelt, of the wrong type or out of its range must fail when the model
is built, naming the option by its config path and saying what is valid, instead of being
silently ignored or failing deep inside a forward pass. The checks:

* :func:`check_keys`: unknown keys of an option group (``model.test_cfg``, ``model.train_cfg``,
  ``model.train_cfg.rpn``, ...) raise ``KeyError`` naming each with its closest known key and
  listing the known keys; :func:`check_config_keys` does the same for a registry config
  (``dict(type=..., ...)``, e.g. an assigner, its costs, the tracker) against the parameters of
  its class, recursively into nested configs;
* :func:`check_bool`: a switch must be ``True`` or ``False`` (``yes``, ``1`` and ``'True'`` are
  errors: ``--cfg-options`` passes ``yes`` as a string);
* :func:`check_number`: a threshold or count must be a number (an ``int`` where a count is
  expected; never a bool or a string) inside its range;
* :func:`check_choice`: a named choice must be one of its values.

Standard library only (imported by :mod:`knet.compat` too).
"""
import difflib
import inspect
import numbers
from typing import Any, Iterable, Mapping, Optional, Sequence, Tuple, Union

Number = Union[int, float]


def check_keys(options: Mapping[str, Any], known: Iterable[str], where: str,
               required: Iterable[str] = ()) -> None:
    """Raise KeyError for a key of ``options`` not in ``known`` or a missing ``required`` key.

    Args:
        options: the option group.
        known: its valid keys.
        where: its config path, e.g. ``'test_cfg'`` or ``'model.train_cfg.rpn'``.
        required: keys that must be present.
    """
    known = tuple(known)
    unknown = [key for key in options if key not in known]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), known, n=1)
            hints.append(f'{key!r}' + (f' (did you mean {close[0]!r}?)' if close else ''))
        raise KeyError(f'unknown {where} key(s) {", ".join(hints)}; known keys: '
                       f'{", ".join(known)}')
    missing = [key for key in required if key not in options]
    if missing:
        raise KeyError(f'{where} lacks the key(s) {", ".join(missing)} (it needs '
                       f'{", ".join(required)})')


def check_bool(value: Any, name: str) -> bool:
    """``value`` if it is ``True`` or ``False``; TypeError naming ``name`` otherwise."""
    if not isinstance(value, bool):
        raise TypeError(f'{name} must be True or False, got {value!r}')
    return value


def check_number(value: Any, name: str, low: Optional[Number] = None,
                 high: Optional[Number] = None, integer: bool = False) -> Number:
    """``value`` if it is a number in ``[low, high]`` (an ``int`` with ``integer``).

    Raises:
        TypeError: for a bool, a string or any other non-number (a float where ``integer``).
        ValueError: for a number outside ``[low, high]`` (a bound of None is open).
    """
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f'{name} must be {"an integer" if integer else "a number"}, got '
                        f'{value!r}')
    raw: Any = value  # a numbers.Real: int() / float() accept it
    number: Number = int(raw) if integer else float(raw)
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f'[{"-inf" if low is None else low}, {"inf" if high is None else high}]'
        raise ValueError(f'{name} must lie in {bounds}, got {value!r}')
    return value if isinstance(value, (int, float)) else number


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``; ValueError naming ``name`` and them otherwise."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f'{name} must be one of {tuple(choices)}, got {value!r}')
    return value


def init_keys(cls: type) -> Optional[Tuple[str, ...]]:
    """The keyword parameters of ``cls(...)``, or None when it accepts ``**kwargs``."""
    params = inspect.signature(cls).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return tuple(p.name for p in params
                 if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                               inspect.Parameter.KEYWORD_ONLY))


def check_config_keys(cfg: Any, registry: Any, where: str) -> None:
    """Check the keys of a registry config ``dict(type=..., ...)`` against its class.

    Every key but ``type`` must be a parameter of the class that ``registry`` holds under
    ``type`` (KeyError otherwise, naming ``where.key``, see :func:`check_keys`); values that are
    configs of the same registry are checked recursively (``where.key``). A config whose type
    the registry does not know, or whose class takes ``**kwargs``, is left to the registry.

    Args:
        cfg: the config (anything else raises TypeError).
        registry: an mmengine registry (``get(name) -> class or None``).
        where: the config path, e.g. ``'model.train_cfg.rpn.assigner'``.
    """
    if not isinstance(cfg, Mapping) or 'type' not in cfg:
        raise TypeError(f'{where} must be a config dict with a "type" key, got {cfg!r}')
    cls = cfg['type'] if isinstance(cfg['type'], type) else registry.get(cfg['type'])
    keys = None if cls is None else init_keys(cls)
    if keys is not None:
        check_keys({key: value for key, value in cfg.items() if key != 'type'}, keys, where)
    for key, value in cfg.items():
        if isinstance(value, Mapping) and 'type' in value and \
                not isinstance(value['type'], type) and registry.get(value['type']) is not None:
            check_config_keys(value, registry, f'{where}.{key}')
