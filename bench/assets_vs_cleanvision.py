"""An image folder checked by Warden's asset monitor and by cleanvision, same images.

Seeded JPEG images (256x192, drawn as the demo draws its pictures: random fields of the
64 lowest 2-D cosine frequencies with a few discs, so that two pictures differ where a
perceptual hash looks): distinct pictures, 2 %
byte copies of earlier images and 2 % near copies (resized to 75 % and re-encoded at
quality 70). The truth (which file copies which) is kept beside them and read only to
score the tools. Each tool runs as a whole process of its own, its peak resident memory
summed over the process and its children (Warden decodes in worker processes; cleanvision
may too), sampled every 50 ms:

- Warden: `warden scan --json` of a `kind: assets` monitor on the default store (SQLite),
  two workers: the first scan reads, decodes, hashes and records every file; then 1 % new
  images are added and the folder is scanned again (only the new files are read);
- cleanvision: `Imagelab(data_path).find_issues` with `exact_duplicates`,
  `near_duplicates`, `dark`, `blurry` and `odd_size` (Warden records brightness, blur and
  size for every image too), progress bars off.

Printed per tool: seconds, peak RSS, and precision and recall of the exact and near
copies: a reported pair is right when both files belong to one original's family; a copy
is found when some reported pair links it to its family.

    python bench/assets_vs_cleanvision.py --images 20000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from itertools import combinations
from pathlib import Path
from typing import Any

from daemon.demo.photos import SIZE, picture  # the demo's seeded pictures, 256x192


def write_images(folder: Path, count: int, start: int = 0) -> dict[str, Any]:
    """`count` images numbered from `start` in `folder`; returns the truth about them."""
    import io

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(count * 7919 + start)
    truth: dict[str, Any] = {"family": {}, "exact": [], "near": []}
    written: list[str] = []
    for number in range(start, start + count):
        name = f"img-{number:06d}.jpg"
        kind = rng.random()
        if written and kind < 0.02:
            original = rng.choice(written)
            (folder / name).write_bytes((folder / original).read_bytes())
            truth["exact"].append(name)
        elif written and kind < 0.04:
            from PIL import Image

            original = rng.choice(written)
            with Image.open(folder / original) as image:
                smaller = image.resize((SIZE[0] * 3 // 4, SIZE[1] * 3 // 4))
            buffer = io.BytesIO()
            smaller.save(buffer, "JPEG", quality=70)
            (folder / name).write_bytes(buffer.getvalue())
            truth["near"].append(name)
        else:
            original = name
            buffer = io.BytesIO()
            picture(number).save(buffer, "JPEG", quality=90)
            (folder / name).write_bytes(buffer.getvalue())
            written.append(name)
        truth["family"][name] = truth["family"].get(original, original)
    return truth


def peak_tree_rss_mb(pid: int, stop: threading.Event, peak: list[float]) -> None:
    """Sample the summed RSS of `pid` and its descendants until `stop`; keep the peak."""
    while not stop.is_set():
        total = 0
        for member in _tree(pid):
            try:
                with open(f"/proc/{member}/status") as status:
                    for line in status:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
            except OSError:
                continue
        peak[0] = max(peak[0], total / 1024)
        stop.wait(0.05)


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, ()))
    return found


def measured(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    stop, peak = threading.Event(), [0.0]
    sampler = threading.Thread(target=peak_tree_rss_mb, args=(process.pid, stop, peak))
    sampler.start()
    stdout, stderr = process.communicate()
    stop.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed ({process.returncode}):\n{stderr[-3000:]}")
    return {"seconds": time.perf_counter() - started, "rss_mb": peak[0], "stdout": stdout}


def warden_pairs(stdout: str) -> dict[str, set[frozenset[str]]]:
    report = json.loads(stdout)
    pairs: dict[str, set[frozenset[str]]] = {"exact": set(), "near": set()}
    for finding in report["findings"]:
        kind = {"duplicate_asset": "exact", "near_duplicate_asset": "near"}.get(finding["pattern"])
        if kind is None:
            continue
        details = finding["details"]
        assert details["count"] == len(details["pairs"]), "pairs cut at MAX_LISTED"
        for pair in details["pairs"]:
            pairs[kind].add(frozenset((Path(pair["path"]).name, Path(pair["original"]).name)))
    return pairs


def cleanvision_worker(folder: str) -> None:
    from cleanvision import Imagelab

    lab = Imagelab(data_path=folder, verbose=False)
    lab.find_issues(
        {"exact_duplicates": {}, "near_duplicates": {}, "dark": {}, "blurry": {}, "odd_size": {}},
        verbose=False,
    )
    sets = {
        kind: [[Path(p).name for p in members] for members in lab.info[name]["sets"]]
        for kind, name in (("exact", "exact_duplicates"), ("near", "near_duplicates"))
    }
    print(json.dumps(sets))


def cleanvision_pairs(stdout: str) -> dict[str, set[frozenset[str]]]:
    sets = json.loads(stdout.strip().splitlines()[-1])
    return {
        kind: {frozenset(pair) for members in groups for pair in combinations(members, 2)}
        for kind, groups in sets.items()
    }


def groups(pairs: set[frozenset[str]]) -> set[frozenset[str]]:
    """The sets of files that pairs link together (union-find)."""
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.setdefault(name, name) != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for pair in pairs:
        a, b = sorted(pair)
        parent[root(a)] = root(b)
    found: dict[str, set[str]] = {}
    for name in parent:
        found.setdefault(root(name), set()).add(name)
    return {frozenset(members) for members in found.values()}


def score(pairs: set[frozenset[str]], copies: list[str], family: dict[str, str]) -> str:
    right = sum(1 for pair in pairs if len({family[name] for name in pair}) == 1)
    linked = {name for pair in pairs for name in pair if len({family[n] for n in pair}) == 1}
    found = sum(1 for name in copies if name in linked)
    precision = right / len(pairs) if pairs else 1.0
    recall = found / len(copies) if copies else 1.0
    return f"{len(pairs):>6,} {precision:>6.3f} {recall:>6.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=Path("bench/out/assets"))
    parser.add_argument("--skip-cleanvision", action="store_true")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        cleanvision_worker(args.worker[1])
        return
    base = args.out.resolve() / f"images-{args.images}"
    folder = base / "photos"
    truth_file = base / "truth.json"
    if not truth_file.exists():
        print(f"drawing {args.images:,} images into {folder} ...", flush=True)
        truth_file.write_text(json.dumps(write_images(folder, args.images)))
    truth = json.loads(truth_file.read_text())
    work = base / "warden"
    if work.exists():
        import shutil

        shutil.rmtree(work)
    work.mkdir()
    (work / "warden.yaml").write_text(
        f"datasets:\n  photos: {{format: files, path: {folder}}}\n"
        "monitors:\n  - {name: photos, kind: assets, dataset: photos, window: 36500d, "
        "workers: 2}\n"
    )
    warden = str(Path(sys.executable).with_name("warden"))
    scan = [warden, "scan", "--json"]  # now: the window (100 years) holds every file
    family = truth["family"]
    print(
        "tool         run            seconds  peak RSS MB   exact: pairs prec  recall"
        "   near: pairs prec  recall"
    )
    first = measured(scan, work)
    (base / "warden-first-scan.json").write_text(first["stdout"])  # to look at the pairs
    got = warden_pairs(first["stdout"])
    warden_exact_sets = groups(got["exact"])
    print(
        f"{'warden':<12} {'first scan':<14} {first['seconds']:>7.1f} {first['rss_mb']:>12.0f}"
        f"        {score(got['exact'], truth['exact'], family)}"
        f"        {score(got['near'], truth['near'], family)}",
        flush=True,
    )
    cached = measured(scan, work)
    print(
        f"{'warden':<12} {'rescan, same':<14} {cached['seconds']:>7.1f} {cached['rss_mb']:>12.0f}"
    )
    new = max(1, args.images // 100)
    extra = base / "extra"
    if extra.exists():
        import shutil

        shutil.rmtree(extra)
    write_images(extra, new, start=args.images)  # drawn aside, then moved in
    for name in os.listdir(extra):
        os.replace(extra / name, folder / f"new-{name}")
    try:
        again = measured(scan, work)
        print(
            f"{'warden':<12} {f'rescan, +{new}':<14} {again['seconds']:>7.1f} "
            f"{again['rss_mb']:>12.0f}",
            flush=True,
        )
    finally:
        for name in os.listdir(folder):
            if name.startswith("new-"):
                os.remove(folder / name)
    if args.skip_cleanvision:
        return
    peer = measured(
        [sys.executable, __file__, "--worker", "cleanvision", str(folder)],
        base,
        env={"TQDM_DISABLE": "1"},
    )
    got = cleanvision_pairs(peer["stdout"])
    same = groups(got["exact"]) == warden_exact_sets
    print(
        f"exact-duplicate sets: Warden {len(warden_exact_sets)}, cleanvision "
        f"{len(groups(got['exact']))}, identical: {'yes' if same else 'no'}"
    )
    print(
        f"{'cleanvision':<12} {'find_issues':<14} {peer['seconds']:>7.1f} {peer['rss_mb']:>12.0f}"
        f"        {score(got['exact'], truth['exact'], family)}"
        f"        {score(got['near'], truth['near'], family)}"
    )
    print(
        f"ratio (cleanvision / warden first scan): {peer['seconds'] / first['seconds']:.1f}x time, "
        f"{peer['rss_mb'] / first['rss_mb']:.2f}x peak RSS"
    )


if __name__ == "__main__":
    main()
