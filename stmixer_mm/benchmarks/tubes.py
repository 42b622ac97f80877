"""What ``tools/experiments/benchmark_tubes.py`` reads: the predictions
that ``tools/test.py --dump`` (mmengine's ``DumpResults``) wrote."""
import pickle

from stmixer_mm.utils.checkpoint_loading import UnsafePickleError, load_pickle


def load_predictions(path: str) -> list:
    """The data samples a ``DumpResults`` evaluator wrote to ``path``,
    unpickled under the tensors' allow-list (a file asking for anything
    else raises :class:`UnsafePickleError` naming it)."""
    try:
        predictions = load_pickle(path, 'tensors', 'dumped predictions')
    except UnsafePickleError:
        raise
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as exc:
        raise ValueError(f'{path}: cannot read the dumped predictions '
                         f'({type(exc).__name__}: {exc})') from exc
    if not isinstance(predictions, list) or not all(
            isinstance(p, dict) and 'pred_instances' in p
            for p in predictions):
        raise ValueError(f'{path}: expected the list of data samples that '
                         "DumpResults writes (dicts with 'pred_instances')")
    return predictions
