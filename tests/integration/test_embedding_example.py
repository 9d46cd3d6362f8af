"""The embedding example in examples/ runs as documented, from another working directory."""

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "embed.py"


def test_the_embedding_example_runs(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, str(EXAMPLE)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    assert "secret opened: 21 bytes" in completed.stdout
    assert "audit chain intact: True (1 event)" in completed.stdout
    assert "s3cr3t" not in completed.stdout + completed.stderr
