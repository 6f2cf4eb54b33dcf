import numpy as np
import pytest

from bench.config import preset
from bench.protocol.protocols import filtered_ids, protocol_splits
from features import DatasetError, FeatureSet


def featureset(clip_ids, skipped=()):
    genres = sorted({c.split(".")[0] for c in clip_ids})
    labels = np.array([genres.index(c.split(".")[0]) for c in clip_ids])
    n = len(clip_ids)
    return FeatureSet(np.zeros((n, 2, 1), np.float32), np.ones(n, np.int64), labels, genres, list(clip_ids), {}, "",
                      [(f"/data/genres/{c.split('.')[0]}/{c}.au", "broken") for c in skipped],
                      clip_paths=[f"{c.split('.')[0]}/{c}.au" for c in clip_ids])


def test_filtered_partition_has_the_published_sizes_and_no_overlap():
    train, val, test = (filtered_ids(p) for p in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (443, 197, 290)
    assert len(set(train) | set(val) | set(test)) == 930  # 70 of GTZAN's 1000 clips are left out
    assert "blues.00012" in test and "blues.00029" in train and "blues.00000" in val


def test_filtered_protocol_maps_ids_to_indices_and_drops_unreadable_clips():
    all_ids = [f"{g}.{i:05d}" for g in ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal",
                                        "pop", "reggae", "rock") for i in range(100)]
    kept = [c for c in all_ids if c != "jazz.00054"]  # the broken clip of the .wav copy, in the train list
    fs = featureset(kept, skipped=["jazz.00054"])
    (split,) = protocol_splits(preset("quick", protocol="filtered"), fs)
    assert (len(split.train), len(split.val), len(split.test)) == (442, 197, 290)
    assert [fs.clip_ids[i] for i in split.test[:2]] == ["blues.00012", "blues.00013"]


def test_filtered_protocol_on_a_partial_copy_is_a_clear_error():
    fs = featureset([f"blues.{i:05d}" for i in range(10)] + [f"rock.{i:05d}" for i in range(10)])
    with pytest.raises(DatasetError, match=r"gtzan_filtered.csv: 980 listed clip\(s\) are not in the data set: "
                                           r"blues/blues.00010, blues/blues.00011"):
        protocol_splits(preset("quick", protocol="filtered"), fs)
