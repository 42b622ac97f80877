"""The host's warnings that the package silences."""
import warnings


def quiet_known_warnings() -> None:
    """Silence pkg_resources' deprecation warning (imported by mmengine;
    setuptools < 82, docs/en/get_started.md); run by ``import stmixer_mm``
    and by the tests' in-process tool runs."""
    warnings.filterwarnings(
        'ignore',
        message='pkg_resources is deprecated as an API',
        category=UserWarning)
