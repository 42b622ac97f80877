"""STMixer demo in the browser: choose or upload a video, a config and a
checkpoint; see the drawn video, a per-person action timeline and download
the JSON::

    python tools/web_demo.py [--checkpoint CKPT] [--config CFG] [--port 8000]

Python's http.server, no extra package; docs/en/web_demo.md.
"""
from stmixer_mm.apps.cli.web import main

if __name__ == '__main__':
    main()
