"""New-style (pure-Python) configs shipped inside the package.

mmengine resolves ``_base_ = 'pkg::...'`` only for its own list of
OpenMMLab packages; a third-party package's configs become inheritable from
an installed package the way mmdet 3.x ships ``mmdet/configs/``: as Python
modules a child config imports inside ``read_base()``::

    from mmengine.config import read_base

    with read_base():
        from stmixer_mm.configs.quickstart.\\
            stmixer_r3d_tiny_1xb8_8x2x1_36e_synthetic_ava_rgb import *

    train_dataloader.update(dict(batch_size=4))

Each file here equals the old-style config of the same name under the
repository's ``configs/`` (``-`` spelled ``_`` so that it is a module name);
``tests/test_configs/test_new_style_configs.py`` compares them. These
modules are read by mmengine's ``Config.fromfile`` (which parses them, it
does not import them): do not import them as Python modules.
"""
