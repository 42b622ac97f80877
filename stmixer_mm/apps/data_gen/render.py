"""Drawing the synthetic videos (background, frames, actor masks) with
OpenCV, from
:meth:`~stmixer_mm.apps.data_gen.scene.SyntheticVideo.geometry`."""
from typing import Optional, Sequence

import cv2
import numpy as np

# Colours are BGR (OpenCV); the background is desaturated.
OBJECT_COLOUR = (0, 230, 255)
OUTLINE_COLOUR = (20, 20, 20)


def make_background(rng: np.random.Generator, height: int,
                    width: int) -> np.ndarray:
    """Muted wall and floor, low-frequency blotches, fine grain, props."""
    hsv = np.array(
        [[[rng.integers(0, 180),
           rng.integers(10, 50),
           rng.integers(110, 170)]]],
        dtype=np.uint8)
    wall = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)
    hsv[0, 0, 2] = max(60, int(hsv[0, 0, 2]) - int(rng.integers(25, 50)))
    floor = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)
    horizon = int(rng.uniform(0.45, 0.6) * height)
    img = np.empty((height, width, 3), np.float32)
    img[:horizon] = wall
    img[horizon:] = floor
    grid = (height // 16 + 2, width // 16 + 2)
    coarse = rng.normal(0, 11, size=grid + (1, )) \
        + rng.normal(0, 4, size=grid + (3, ))
    img += cv2.resize(
        coarse.astype(np.float32), (width, height),
        interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0, 4, size=img.shape).astype(np.float32)
    for _ in range(int(rng.integers(0, 3))):  # furniture: headless blocks
        w = int(rng.integers(width // 12, width // 5))
        h = int(rng.integers(height // 8, height // 3))
        x = int(rng.integers(0, width - w))
        y = int(rng.integers(max(0, horizon - h), horizon))
        tone = wall + rng.normal(0, 18, size=3)
        img[y:y + h, x:x + w] = 0.6 * img[y:y + h, x:x + w] + 0.4 * tone
    return np.clip(img, 0, 255).astype(np.uint8)


def draw_part(img: np.ndarray, part: tuple, outline: bool) -> None:
    """Draw a body part of :meth:`SyntheticVideo.geometry` (``('rect', x1,
    y1, x2, y2, colour)`` or ``('circle', cx, cy, r, colour)``) filled in
    its colour, or 1 px larger in the outline colour."""
    colour = OUTLINE_COLOUR if outline else part[-1]
    grow = 1 if outline else 0
    if part[0] == 'rect':
        _, x1, y1, x2, y2, _ = part
        cv2.rectangle(img, (x1 - grow, y1 - grow), (x2 + grow, y2 + grow),
                      colour, -1)
    else:
        _, cx, cy, r, _ = part
        cv2.circle(img, (cx, cy), r + grow, colour, -1)


def render_frame(video,
                 f: int,
                 actors: Optional[Sequence[int]] = None,
                 draw_objects: bool = True,
                 background: bool = True) -> np.ndarray:
    """Frame ``f`` of ``video`` as a BGR ``uint8`` image ``[H, W, 3]``: the
    ``actors`` (default all), farther (higher) ones first, outlined, with
    an eye on the facing side and optionally the held object; on the
    background or black."""
    img = video.background.copy() if background else np.zeros_like(
        video.background)
    ids = range(len(video.actors)) if actors is None else actors
    for a in sorted(ids, key=lambda i: video.actors[i].ground):
        parts, _, obj = video.geometry(a, f)
        for p in parts:  # outlines first, then fills
            draw_part(img, p, outline=True)
        for p in parts:
            draw_part(img, p, outline=False)
        eye_r = max(1, video.actors[a].dims['head_r'] // 3)
        head = parts[-1]
        ex = head[1] + video.actors[a].facing * (head[3] // 2)
        cv2.circle(img, (ex, head[2] - 1), eye_r, OUTLINE_COLOUR, -1)
        if draw_objects and obj is not None:
            cv2.rectangle(img, (obj[0] - 1, obj[1] - 1),
                          (obj[2] + 1, obj[3] + 1), OUTLINE_COLOUR, -1)
            cv2.rectangle(img, obj[:2], obj[2:], OBJECT_COLOUR, -1)
    return img


def actor_masks(video, f: int, actors: Sequence[int]) -> dict:
    """``{actor: bool mask [H, W]}``: the pixels :func:`render_frame` paints
    for each of ``actors`` in frame ``f`` (parts, outline, eye), less those
    painted over by nearer actors and held objects (not part of the person).
    A mask may be empty (a person hidden behind another)."""
    order = sorted(
        range(len(video.actors)), key=lambda i: video.actors[i].ground)
    shape = video.background.shape[:2]
    painted = {}  # actor -> (body, object) as drawn, before occlusion
    for a in order:
        body = np.zeros(shape, np.uint8)
        parts, _, obj = video.geometry(a, f)
        for p in parts:  # the outline covers the fill and the eye
            draw_part(body, p, outline=True)
        held = np.zeros(shape, np.uint8)
        if obj is not None:
            cv2.rectangle(held, (obj[0] - 1, obj[1] - 1),
                          (obj[2] + 1, obj[3] + 1), 1, -1)
        painted[a] = (body.astype(bool), held.astype(bool))
    masks = {}
    for k, a in enumerate(order):
        if a not in actors:
            continue
        visible = painted[a][0] & ~painted[a][1]
        for b in order[k + 1:]:
            visible &= ~(painted[b][0] | painted[b][1])
        masks[a] = visible
    return masks
