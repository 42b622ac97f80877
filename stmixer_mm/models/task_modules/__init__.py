from .box_position_embedding import (box_position_embedding,
                                     position_frequencies)
from .box_xyzr import box_giou, box_iof, refine_xyzr, xyxy2xyzr, xyzr2xyxy
from .tubelet_assigner import TubeletHungarianAssigner

__all__ = [
    'xyzr2xyxy', 'xyxy2xyzr', 'refine_xyzr', 'box_iof', 'box_giou',
    'box_position_embedding', 'position_frequencies',
    'TubeletHungarianAssigner'
]
