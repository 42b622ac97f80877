"""The ``forecast`` field of each person of a result: written by the result
formatter, checked by the result reader and drawn by ``draw_tracks`` (the
core's ``PERSON_FIELDS`` extension point)."""
from typing import List, Optional

import cv2
import numpy as np

from stmixer_mm.apis.results.formatter import pixels
from stmixer_mm.apis.results.reader import (actions_field, box_field,
                                            check_fields, number_field)
from stmixer_mm.visualization.person_fields import PERSON_FIELDS, PersonField
from stmixer_mm.visualization.track_drawing import FONT

#: the fields of one forecast of a person (one per horizon)
FORECAST_FIELDS = dict(
    horizon=number_field(1, integer=True),
    frame=number_field(0, integer=True),
    bbox=box_field,
    visible=number_field(0, 1),
    actions=actions_field)

#: a forecast box is drawn where its in-view probability reaches this
FORECAST_VISIBLE_THR = 0.5


def dashed_rectangle(image: np.ndarray,
                     box,
                     color,
                     thick: int,
                     dash: int = 6) -> None:
    """Draw the outline of a box dashed, in place.

    Args:
        image (np.ndarray): The image drawn on.
        box (Sequence[float]): ``x1, y1, x2, y2`` in pixels of ``image``.
        color (tuple): The line colour.
        thick (int): The line thickness, pixels.
        dash (int): Length of a dash and of a gap, pixels. Defaults to 6.
    """
    x1, y1, x2, y2 = (int(v) for v in box)
    sides = [((x1, x2), y, True) for y in (y1, y2)] + \
        [((y1, y2), x, False) for x in (x1, x2)]
    for (a, b), fixed, horizontal in sides:
        for start in range(a, b + 1, 2 * dash):
            end = min(start + dash, b)
            p, q = ((start, fixed), (end, fixed)) if horizontal else \
                ((fixed, start), (fixed, end))
            cv2.line(image, p, q, color, thick)


def draw_forecast(image: np.ndarray,
                  forecast: dict,
                  scale_up: float,
                  color,
                  font_scale: float,
                  thick: int,
                  line: int = 0) -> None:
    """Draw a forecast in view (``visible`` >= 0.5), in place: its box
    dashed, ``+<horizon>`` and its best action inside the bottom edge.

    Args:
        image (np.ndarray): The (scaled) frame drawn on.
        forecast (dict): ``horizon``, ``bbox`` (xyxy pixels of the
            unscaled frame), optional ``visible`` and ``actions``
            ``{name: score}`` (best first).
        scale_up (float): The frame's scale factor (:func:`scale_up`).
        color (tuple): The person's colour.
        font_scale (float): OpenCV font scale of the labels (the text
            uses 0.8 of it).
        thick (int): Line and text thickness, pixels.
        line (int): Text lines up from the bottom edge (a person's
            forecasts one above the other). Defaults to 0.
    """
    if float(forecast.get('visible', 1.0)) < FORECAST_VISIBLE_THR:
        return
    box = np.asarray(forecast['bbox'], np.float64) * scale_up
    dashed_rectangle(image, box.round(), color, thick)
    actions = forecast.get('actions') or {}
    text = f'+{forecast["horizon"]}' + (f' {next(iter(actions))}'
                                        if actions else '')
    x = int(np.clip(box[0], 0, image.shape[1] - 1))
    (_, th), base = cv2.getTextSize(text, FONT, font_scale * 0.8, thick)
    y = int(
        np.clip(box[3] - 3 - line * (th + base + 2), th + 1,
                image.shape[0] - 1))
    cv2.putText(image, text, (x + 2, y), FONT, font_scale * 0.8, color, thick,
                cv2.LINE_AA)


class ForecastField(PersonField):
    """A person's forecasts: ``[dict(horizon, frame, bbox, visible,
    actions)]``, one per horizon of the model's forecast head (boxes in
    pixels of the frame, actions scored times the person score as
    ``ForecastMetric`` ranks them), drawn dashed."""

    def values(self, result, formatter) -> Optional[List[list]]:
        pred = result.pred_field('future_bboxes', sized=True)
        if pred is None:
            return None
        horizons = tuple(
            int(x) for x in result.data_sample.metainfo['forecast_horizons'])
        n, k = len(result), len(horizons)
        future = pred.future_scores.cpu().numpy().reshape(n, k, -1)
        scores = np.zeros((n, k, result.scores.shape[1]), np.float32)
        # the head has no background column: its columns are the last ones
        scores[:, :, result.scores.shape[1] - future.shape[2]:] = \
            future * result.person_scores.reshape(n, 1, 1)
        boxes = pixels(pred.future_bboxes, result.frame_hw, (n, k, 4))
        visible = pred.future_visible.cpu().numpy().reshape(n, k)
        return [[
            dict(
                horizon=h,
                frame=result.frame + h,
                bbox=boxes[i, j],
                visible=round(float(visible[i, j]), 4),
                actions=formatter.actions(scores[i, j]))
            for j, h in enumerate(horizons)
        ] for i in range(n)]

    def to_json(self, value: list) -> list:
        return [
            dict(f, bbox=[round(float(v), 1) for v in f['bbox']])
            for f in value
        ]

    def check(self, value, file: str, where: str) -> None:
        parent, _, name = where.rpartition('.')
        is_list = lambda v: None if isinstance(v, list) else 'a list'  # noqa
        check_fields({name: value}, {}, {name: is_list}, file, parent)
        for j, f in enumerate(value):
            check_fields(f, FORECAST_FIELDS, {}, file, f'{where}[{j}]')

    def draw(self, image: np.ndarray, value: list, scale_up: float, color,
             font_scale: float, thick: int) -> None:
        for line, f in enumerate(value):
            draw_forecast(image, f, scale_up, color, font_scale, thick, line)


PERSON_FIELDS['forecast'] = ForecastField()
