"""How much of the domain gap a translation closed: a small classifier (DomainClassifier) learns to
tell real source images from real target images on the two training splits, and then scores held-
out images: the source's test images (query + gallery) as they are, and the same images as the
translator rendered them. The share of each that it calls "target" is the figure: near 0 for the
untranslated source (the judge separates the domains), higher the more the translation looks like
the target; the judge's own balanced accuracy on held-out real images says whether it is worth
listening to. A second classifier, trained on the translated against the real target training
images, gives the held-out accuracy with which a translation can still be told from the target
(0.5: not at all): the figure that does not saturate when the first judge is fooled.

    .venv/bin/python tools/translation_quality.py --run runs/translate/seed0/spgan_supervised/translation
    .venv/bin/python tools/translation_quality.py --run RUN --seed 0 --epochs 5 --threads 1
    .venv/bin/python tools/translation_quality.py --run RUN --translated runs/translate/ideal/source

``--translated`` scores another rendering of the run's source (the ideal translation of
tools/ideal_translation.py, say) with the run's data and input size. The figures go to stdout and
to translation_quality.json beside the rendering's folder (RUN/ for the run's own: what the results
tables read).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from reidkit.adapters.data.images import load_image
from reidkit.adapters.data.market import read_market
from reidkit.adapters.data.transforms import build_gan_transform
from reidkit.adapters.translation.domain_classifier import classifier_accuracy, target_share, train_domain_classifier
from reidkit.adapters.translation.render import read_manifest
from reidkit.application.evaluate import pick_domain
from reidkit.entrypoints.parts.data import profile_data
from reidkit.entrypoints.settings import load_profile

OUTPUT = "translation_quality.json"


def images(records, height: int, width: int) -> torch.Tensor:  # noqa: ANN001 - ImageRecords
    transform = build_gan_transform(height, width, flip_p=0.0)
    return torch.stack([transform(load_image(r.path)) for r in records])


def measure(run: Path, *, seed: int, epochs: int, translated: Path | None = None) -> dict[str, float]:
    profile = load_profile(str(run / "profile.toml"))
    if profile.method != "translate":
        raise SystemExit(f"translation_quality: {run} is a {profile.method} run, not a translation run")
    translated = translated or run / "translated"
    manifest = read_manifest(translated)
    source_name, target_name = manifest["source_domain"], manifest["style_of"]
    domains = profile_data(profile).read_domains()
    source, target = pick_domain(domains, source_name), pick_domain(domains, target_name)
    rendered = read_market(translated, domain=source_name)
    size = profile.input.height, profile.input.width
    judge = train_domain_classifier(
        images(source.train, *size), images(target.train, *size), seed=seed, epochs=epochs
    )
    source_test = images([*source.query, *source.gallery], *size)
    target_test = images([*target.query, *target.gallery], *size)
    translated_test = images([*rendered.query, *rendered.gallery], *size)
    # the judge above saturates (every translation passes as target); a second classifier trained
    # on the translated against the real target training images says whether the two can still be
    # told apart at all (held-out balanced accuracy; 0.5: they cannot)
    rival = train_domain_classifier(images(rendered.train, *size), images(target.train, *size), seed=seed, epochs=epochs)
    return {
        "translated_vs_target_accuracy": classifier_accuracy(rival, translated_test, target_test),
        "judge_accuracy": classifier_accuracy(judge, source_test, target_test),
        "source_as_target": target_share(judge, source_test),
        "translated_as_target": target_share(judge, translated_test),
        "target_as_target": target_share(judge, target_test),
        "test_images": float(len(source_test)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a translate run folder (holds translated/)")
    parser.add_argument("--seed", type=int, default=0, help="the judge's seed")
    parser.add_argument("--epochs", type=int, default=5, help="the judge's training epochs")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    parser.add_argument("--translated", type=Path, help="a rendering of the run's source to score (default: RUN/translated)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    translated = args.translated or args.run / "translated"
    figures = measure(args.run, seed=args.seed, epochs=args.epochs, translated=translated)
    (translated.parent / OUTPUT).write_text(json.dumps(figures, indent=1))
    print(
        f"{translated}: judge accuracy {figures['judge_accuracy']:.3f}; called target: untranslated source "
        f"{figures['source_as_target']:.3f}, translated source {figures['translated_as_target']:.3f}, real target "
        f"{figures['target_as_target']:.3f}; translated told from target with accuracy "
        f"{figures['translated_vs_target_accuracy']:.3f} ({int(figures['test_images'])} test images, {time.perf_counter() - started:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
