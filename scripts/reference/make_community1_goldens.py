"""Goldens for the community-1 pipeline (tests/community1.test.ts), from pyannote.audio 4 itself.

pyannote.audio 4.0.7 (with the torch, numpy 2.4.6, scipy 1.17.1 and scikit-learn 1.9.1 it installs) runs
`Pipeline.from_pretrained(DIR)` on a directory laid out like the Hub repo
`pyannote/speaker-diarization-community-1` (config.yaml, segmentation/, embedding/, plda/), written by
scripts/generate_pipeline.ts with seeded random weights in the real file formats. Offline: the config's
`$model/...` entries resolve inside DIR, HF_HUB_OFFLINE=1, telemetry off.

    python3 -m venv /work/venvs/c1 && /work/venvs/c1/bin/pip install pyannote.audio==4.0.7
    deno run -A scripts/generate_pipeline.ts /tmp/community1
    /work/venvs/c1/bin/python scripts/reference/make_community1_goldens.py /tmp/community1

writes tests/fixtures/community1/goldens.json. Per recording of ../shared/data/speech (sample.wav,
ami_tst00.wav, ami_mixture.wav: 30, 30 and 60 s), the stages of VBxClustering that do not depend on the
speaker count (training pairs, the first PLDA feature rows, AHC labels, VBx responsibilities and priors)
and, for sample and ami_mixture, their inputs as pyannote computed them (binarized segmentation bits,
float32 embeddings: base64, little-endian); per speaker-count setting the KMeans labels when the count is
forced, the centroids, the hard clusters, the regular and exclusive RTTM (gzip, base64) and which
cluster each output label stands for (the speaker embeddings are those clusters' centroids, checked here). The stages are recomputed here with
pyannote's own functions in VBxClustering.__call__'s order, and checked against what the pipeline's
clustering actually returned (recorded by wrapping it), so the stage goldens are pyannote's.

The settings cover both ways the speaker count is decided: with the stand-in's weights (see
scripts/generate_pipeline.ts for the choices) VBx keeps 1 speaker on sample.wav and ami_tst00.wav and 4
on ami_mixture.wav; forcing another count (num_speakers, min_speakers above or max_speakers below what VBx
found) re-clusters with KMeans(n_init=3, random_state=42); num_speakers equal to VBx's count keeps VBx's
clusters and the constrained (Hungarian) assignment.

Calibration (how tests/fixtures/community1/embedding_bias.json was made, once): generate DIR without
that file, run `... make_community1_goldens.py DIR --calibrate`: it writes the bias that removes 90% of
the random embedding network's mean output over the three recordings (all (chunk, speaker) pairs).

The pipeline is run with `pipeline.training = True` and one file dict per recording, so that pyannote's
own cache reuses the segmentation and embeddings across settings (they do not depend on the count); the
embedding pass of pyannote dominates (several minutes per recording on 2 cores).
"""

import base64
import gzip
import json
import os
import pathlib
import sys
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["PYANNOTE_METRICS_ENABLED"] = "0"

import numpy as np  # noqa: E402
import torch  # noqa: E402
from pyannote.audio import Pipeline  # noqa: E402
from pyannote.audio.pipelines.clustering import VBxClustering  # noqa: E402
from pyannote.audio.utils.vbx import cluster_vbx  # noqa: E402
from scipy.cluster.hierarchy import fcluster, linkage  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPEECH = ROOT.parent / "shared" / "data" / "speech"
OUT = ROOT / "tests" / "fixtures" / "community1"
RECORDINGS = {
    "sample": [{}, {"num_speakers": 2}],
    "ami_tst00": [{}, {"num_speakers": 4}],
    "ami_mixture": [{}, {"num_speakers": 4}, {"max_speakers": 2}, {"min_speakers": 6}],
}
FEATURE_ROWS = 8
# The recordings whose clustering inputs (pyannote's segmentation and embeddings) are stored for the
# stage tests; ami_tst00 is checked end to end only (its stages repeat sample.wav's: one VBx speaker,
# then KMeans), to keep the fixture small.
STAGE_INPUTS = ("sample", "ami_mixture")


def b64(array, dtype):
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).astype(dtype).tobytes()).decode()


def gz(text):
    return base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode()


def stages(clustering, embeddings, segmentations, num_speakers, min_speakers, max_speakers):
    """VBxClustering.__call__ step by step with pyannote's functions, keeping every intermediate."""
    train, chunk_idx, speaker_idx = clustering.filter_embeddings(embeddings, segmentations=segmentations)
    out = {"train": [[int(c), int(s)] for c, s in zip(chunk_idx, speaker_idx)]}
    if train.shape[0] < 2:
        return out
    normed = train / np.linalg.norm(train, axis=1, keepdims=True)
    ahc = fcluster(linkage(normed, method="centroid", metric="euclidean"), clustering.threshold, criterion="distance") - 1
    _, ahc = np.unique(ahc, return_inverse=True)
    fea = clustering.plda(train)
    q, sp = cluster_vbx(ahc, fea, clustering.plda.phi, Fa=clustering.Fa, Fb=clustering.Fb, maxIters=20)
    w = q[:, sp > 1e-7]
    centroids = w.T @ train.reshape(-1, train.shape[1]) / w.sum(0, keepdims=True).T
    out.update(
        features=b64(fea[:FEATURE_ROWS], "<f8"),
        featureRows=int(min(FEATURE_ROWS, fea.shape[0])),
        ahc=[int(v) for v in ahc],
        gamma=b64(q, "<f8"),
        pi=[float(v) for v in sp],
    )
    auto = centroids.shape[0]
    num = num_speakers
    if auto < min_speakers:
        num = min_speakers
    elif auto > max_speakers:
        num = max_speakers
    if num and num != auto:
        labels = KMeans(n_clusters=num, n_init=3, random_state=42, copy_x=False).fit_predict(normed.copy())
        out["kmeans"] = [int(v) for v in labels]
    return out


def main():
    directory = pathlib.Path(sys.argv[1])
    calibrate = "--calibrate" in sys.argv[2:]
    pipeline = Pipeline.from_pretrained(directory)
    assert isinstance(pipeline.clustering, VBxClustering)
    pipeline.training = True  # pyannote's cache: segmentation and embeddings computed once per recording

    recorded = []
    original = VBxClustering.__call__

    def recording(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        hard, soft, centroids = result
        recorded.append((kwargs, (hard.copy(), soft.copy(), centroids.copy())))  # the pipeline edits hard later
        return result

    VBxClustering.__call__ = recording

    if calibrate:
        means = []
        for name in RECORDINGS:
            pipeline({"uri": name, "audio": str(SPEECH / f"{name}.wav")})
            means.append(recorded[-1][0]["embeddings"].reshape(-1, 256))
        mean = np.concatenate(means).mean(0)
        checkpoint = torch.load(directory / "embedding" / "pytorch_model.bin", map_location="cpu", weights_only=False)
        bias = checkpoint["state_dict"]["resnet.seg_1.bias"].numpy().astype(np.float64) - 0.9 * mean
        (OUT / "embedding_bias.json").write_text(json.dumps({"bias": [float(v) for v in bias.astype(np.float32)]}))
        return

    goldens = {"pyannote.audio": "4.0.7", "recordings": {}}
    for name, settings in RECORDINGS.items():
        file = {"uri": name, "audio": str(SPEECH / f"{name}.wav")}
        entry = {"runs": []}
        for setting in settings:
            discrete = {}

            def hook(step, artefact, file=None, **kwargs):
                if step == "discrete_diarization":
                    discrete["data"] = artefact.data

            output = pipeline(file, hook=hook, **setting)
            kwargs, (hard, _, centroids) = recorded[-1]
            embeddings, segmentations = kwargs["embeddings"], kwargs["segmentations"]
            mine = stages(
                pipeline.clustering,
                embeddings,
                segmentations,
                kwargs["num_clusters"],
                kwargs["min_clusters"],
                kwargs["max_clusters"],
            )
            kmeans = mine.pop("kmeans", None)
            if "train" not in entry:  # the stages before KMeans do not depend on the count
                entry.update(numChunks=int(embeddings.shape[0]), numFrames=int(segmentations.data.shape[1]), **mine)
                if name in STAGE_INPUTS:
                    entry.update(
                        embeddings=b64(embeddings, "<f4"),
                        segmentation=base64.b64encode(np.packbits(segmentations.data.astype(np.uint8).ravel())).decode(),
                    )
            assert all(entry[k] == v for k, v in mine.items()), "stages before KMeans changed with the count"
            train = embeddings[[c for c, _ in mine["train"]], [s for _, s in mine["train"]]]
            if kmeans is not None:
                labels = np.array(kmeans)
                expected = np.vstack([np.mean(train[labels == k], axis=0) for k in range(labels.max() + 1)])
            elif "gamma" in mine:
                q = np.frombuffer(base64.b64decode(mine["gamma"]), "<f8").reshape(len(train), -1)
                w = q[:, np.array(mine["pi"]) > 1e-7]
                expected = w.T @ train / w.sum(0, keepdims=True).T
            else:
                expected = np.mean(train, axis=0, keepdims=True)
            assert np.array_equal(expected, centroids, equal_nan=True), "stages differ from the pipeline's clustering"
            # Output labels SPEAKER_00, ... stand for the sorted cluster indices present in the output; the
            # speaker embeddings are those clusters' centroids (zeros past the last centroid).
            labels = list(output.speaker_diarization.labels())
            label_clusters = [int(k) for k in np.flatnonzero(discrete["data"].any(axis=0))]
            assert len(label_clusters) == len(labels)
            columns = max([len(centroids), *(k + 1 for k in label_clusters)])
            padded = np.vstack([centroids, np.zeros((columns - len(centroids), centroids.shape[1]))])
            assert np.array_equal(output.speaker_embeddings, padded[label_clusters], equal_nan=True), label_clusters
            with tempfile.TemporaryDirectory() as tmp:
                rttm = pathlib.Path(tmp) / "out.rttm"
                with open(rttm, "w") as f:
                    output.speaker_diarization.write_rttm(f)
                regular = rttm.read_text()
                with open(rttm, "w") as f:
                    output.exclusive_speaker_diarization.write_rttm(f)
                exclusive = rttm.read_text()
            run = {
                "setting": {k.replace("_speakers", "Speakers"): v for k, v in setting.items()},
                **({"kmeans": kmeans} if kmeans is not None else {}),
                "centroids": b64(centroids, "<f8"),
                "numClusters": int(centroids.shape[0]),
                "hardClusters": [[int(v) for v in row] for row in hard],
                "rttmGz": gz(regular),
                "exclusiveRttmGz": gz(exclusive),
                "labelClusters": label_clusters,
            }
            entry["runs"].append(run)
            print(name, setting, "VBx speakers", int((np.array(mine.get("pi", [1])) > 1e-7).sum()),
                  "kmeans" if kmeans is not None else "", "->", len(labels), "speakers", flush=True)
        goldens["recordings"][name] = entry
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "goldens.json").write_text(json.dumps(goldens, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
