"""Reading training records (``prover.records.TrainingRecord``, as ``prover synth`` writes
them) from ``DIR/records*.jsonl``. A repeated id keeps its first record: the same proof twice
would only weigh it double. Anything unreadable is a ``TrainInputError`` naming file and line.
"""
from __future__ import annotations

import json
from pathlib import Path

from prover.records import TrainingRecord
from prover.train.errors import TrainInputError

RECORD_GLOB = "records*.jsonl"


def record_files(data_dir: Path | str) -> list[Path]:
    """The record files of ``data_dir``, sorted; ``TrainInputError`` when there are none."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise TrainInputError(f"training data directory {data_dir} does not exist "
                              "(or is not a directory)")
    files = sorted(p for p in data_dir.glob(RECORD_GLOB) if p.is_file())
    if not files:
        raise TrainInputError(f"no {RECORD_GLOB} files in {data_dir}: run `prover synth` first, "
                              "or point --data at the directory it wrote")
    return files


def load_records(data_dir: Path | str) -> list[TrainingRecord]:
    """Every record of ``data_dir`` in file then line order, first of each id kept.

    Raises ``TrainInputError`` naming the file and line of anything unreadable, or when the
    files hold no record at all.
    """
    records: list[TrainingRecord] = []
    seen: set[str] = set()
    files = record_files(data_dir)
    for path in files:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise TrainInputError(f"cannot read {path}: {exc}") from None
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = TrainingRecord.from_json(json.loads(line))
            except ValueError as exc:  # json.JSONDecodeError is a ValueError too
                raise TrainInputError(f"{path}:{number}: not a training record: {exc}") from None
            if record.id not in seen:
                seen.add(record.id)
                records.append(record)
    if not records:
        raise TrainInputError(f"no records in {', '.join(str(p) for p in files)}")
    return records


__all__ = ["RECORD_GLOB", "TrainingRecord", "load_records", "record_files"]
