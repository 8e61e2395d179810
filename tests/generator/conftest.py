"""Fixtures for the generator tests: an isolated deepsentry home, consent files, test clips, and (for the
ledger-dependent tests) a real embedded anvil with real creator keys."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

PASSPHRASE = "generator-test-passphrase"


@pytest.fixture(scope="session")
def gen_home(tmp_path_factory):
    """A DEEPSENTRY_HOME of our own, with the passphrase in the environment for the session."""
    home = tmp_path_factory.mktemp("gen_home")
    saved = {k: os.environ.get(k) for k in ("DEEPSENTRY_HOME", "DEEPSENTRY_PASSPHRASE")}
    os.environ["DEEPSENTRY_HOME"] = str(home)
    os.environ["DEEPSENTRY_PASSPHRASE"] = PASSPHRASE
    yield home
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def settings(gen_home):
    from deepsentry.settings import load_settings

    return load_settings(config_dir=gen_home / "config", data_dir=gen_home / "data")


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    """Photos on disk: the astronaut (consented subject) and another real person (see media.py)."""
    from tests.generator.media import other_person, save_png
    from tests.mediautil import astronaut

    d = tmp_path_factory.mktemp("gen_media")
    return {"astronaut": save_png(d / "astronaut.png", astronaut()),
            "other": save_png(d / "other.png", other_person()),
            "dir": d}


@pytest.fixture(scope="session")
def astronaut_consent(settings, media, tmp_path_factory):
    """A valid consent by the astronaut for swap and animate, expiring next year (not on any ledger)."""
    from deepsentry.generator.consent import create_consent

    out = tmp_path_factory.mktemp("gen_consent") / "astronaut.consent.json"
    signed, key = create_consent(subject_name="Eileen Collins", photo=media["astronaut"], modes=["swap", "animate"],
                                 expires=dt.date.today() + dt.timedelta(days=365), out=out, settings=settings,
                                 creator="test creator", passphrase=PASSPHRASE)
    return {"path": out, "signed": signed, "key": key}


@pytest.fixture(scope="session")
def two_face_clip(tmp_path_factory):
    from tests.mediautil import face_clip

    d = tmp_path_factory.mktemp("gen_clips")
    path, truth = face_clip(d / "two_faces.mp4", seconds=0.8, fps=25, size=(720, 360), faces=2, drift=1)
    return path, truth


@pytest.fixture(scope="session")
def driver(tmp_path_factory):
    from tests.generator.media import driver_clip

    d = tmp_path_factory.mktemp("gen_driver")
    return driver_clip(d / "driver.mp4", n=24, fps=12)


@pytest.fixture(scope="session")
def ledger(settings):
    """A real embedded anvil with the registry deployed and creator keys (C2PA + Ethereum) initialised."""
    from deepsentry.ledger import KeyStore, open_registry

    ks = KeyStore(settings.config_dir)
    if not ks.exists():
        ks.init(PASSPHRASE)
    client = open_registry(settings, passphrase=PASSPHRASE)
    yield client
    client.close()


def no_outputs(directory: Path) -> list[Path]:
    """Every file in ``directory`` (outputs, receipts, partial files): should be empty after a refusal."""
    return sorted(p for p in Path(directory).iterdir())
