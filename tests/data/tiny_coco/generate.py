"""Generate the tiny COCO-format fixture (4 images of 64x64 with 1-2
coloured rectangles of 2 classes, ``annotations.json``).

    .venv/bin/python tests/data/tiny_coco/generate.py
"""
import json
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
CLASSES = ('red_box', 'blue_box')
COLOURS = ((40, 40, 220), (220, 60, 40))  # BGR


def main() -> None:
    rng = np.random.default_rng(0)
    images, annotations = [], []
    for i in range(4):
        img = np.full((64, 64, 3), 128, np.uint8)
        name = f'img_{i}.jpg'
        for _ in range(1 + i % 2):
            cls = int(rng.integers(2))
            w, h = (int(v) for v in rng.integers(14, 30, size=2))
            x, y = int(rng.integers(0, 64 - w)), int(rng.integers(0, 64 - h))
            img[y:y + h, x:x + w] = COLOURS[cls]
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=i,
                    category_id=cls + 1,
                    bbox=[x, y, w, h],
                    area=w * h,
                    iscrowd=0))
        cv2.imwrite(str(HERE / 'images' / name), img)
        images.append(dict(id=i, file_name=name, width=64, height=64))
    categories = [dict(id=i + 1, name=n) for i, n in enumerate(CLASSES)]
    with open(HERE / 'annotations.json', 'w') as f:
        json.dump(
            dict(
                images=images, annotations=annotations, categories=categories),
            f,
            indent=1)


if __name__ == '__main__':
    main()
