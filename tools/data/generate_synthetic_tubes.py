"""Generate the synthetic data set with ACT-format tube ground truth.

Example::

    python tools/data/generate_synthetic_tubes.py --no-demo   # quick start
    python tools/data/generate_synthetic_tubes.py --out-dir data/syn_tubes \\
        --num-train-videos 4 --num-val-videos 2 --seconds-per-video 3
    # tubes that cover parts of the video (the class may change every 1 s):
    python tools/data/generate_synthetic_tubes.py --out-dir data/syn_parts \\
        --actor-states per_keyframe --seconds-per-video 8
    # the occlusion set: actors cross each other, leave and re-enter the
    # frame (128 train / 32 test videos of 4 s, 2-3 actors; prints the
    # crossings, exits and re-entries per split):
    python tools/data/generate_synthetic_tubes.py --motion crossing \
        --out-dir data/synthetic_tubes_crossing --no-demo

Writes the synthetic AVA-layout frames (``rawframes/<video>/img_%05d.jpg``)
and ``annotations/tubes_GT.pkl`` (labels, gttubes, nframes, train_videos,
test_videos, resolution), read by ``TubeDataset`` and ``TubeMetric``
(``configs/_base_/datasets/synthetic_tubes.py`` matches the defaults: 256
train / 48 test videos of 2 s, every actor one tube over its whole video,
jumps starting at random hop phases). With ``--motion crossing`` the
pickle also holds ``tube_actors`` ({video: {label: [actor of each tube]}}:
an actor that leaves and comes back has two tubes).
"""
from stmixer_mm.data_gen.synthetic_tubes import main

if __name__ == '__main__':
    main()
