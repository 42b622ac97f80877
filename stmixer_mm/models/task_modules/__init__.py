from .box_position_embedding import (box_position_embedding,
                                     position_frequencies)
from .box_xyzr import refine_xyzr, xyxy2xyzr, xyzr2xyxy
from .mmdet_twins import (avg_factor_mean, bbox_l1_cost, box_giou, box_iof,
                          cross_entropy_rows, giou_cost, giou_loss_rows)
from .tubelet_assigner import TubeletHungarianAssigner

__all__ = [
    'xyzr2xyxy', 'xyxy2xyzr', 'refine_xyzr', 'box_iof', 'box_giou',
    'giou_cost', 'bbox_l1_cost', 'cross_entropy_rows', 'giou_loss_rows',
    'avg_factor_mean', 'box_position_embedding', 'position_frequencies',
    'TubeletHungarianAssigner'
]
