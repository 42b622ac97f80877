from .consistency import check_explicit_setting

__all__ = ['check_explicit_setting']
