"""The extension point of the results' per-person fields: a project adds a
field (e.g. ``forecast`` of ``projects/forecasting/``) that the result
formatter writes, the result reader checks and ``draw_tracks`` draws."""
from typing import Dict, List, Optional

import numpy as np


class PersonField:
    """A field of each person of a result, added by a project. Subclass it,
    override what the field needs and add an instance to
    :data:`PERSON_FIELDS` under the field's name.
    """

    def values(self, result, formatter) -> Optional[List]:
        """The field of each person of a keyframe, or None (none).

        Args:
            result (KeyframeResult): The keyframe's detections (its
                ``pred_field`` reads the model's ``pred_instances``).
            formatter (ResultFormatter): Names the actions (``actions``).

        Returns:
            list | None: One value per person.
        """
        return None

    def to_json(self, value):
        """``value`` as the JSON writers write it (rounded). Defaults to
        ``value``."""
        return value

    def check(self, value, file: str, where: str) -> None:
        """Refuse a ``value`` read from ``file`` at ``where`` (a JSON path
        such as ``keyframes[0].persons[1].forecast``) with a ValueError
        naming both. Defaults to accepting any value."""

    def draw(self, image: np.ndarray, value, scale_up: float, color,
             font_scale: float, thick: int) -> None:
        """Draw ``value`` on ``image`` (scaled by ``scale_up`` from the
        frame the value's pixels are of) in place, in the person's
        ``color``, after the boxes and labels. Defaults to nothing."""


#: ``{name: PersonField}`` of the fields projects add, in writing order
PERSON_FIELDS: Dict[str, PersonField] = {}
