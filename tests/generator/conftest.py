"""Fixtures for the generator tests: an isolated deepsentry home, consent files, test clips, and (for the
ledger-dependent tests) a real embedded anvil with real creator keys."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.generator.media import PASSPHRASE

# Package scope: everything (the anvil node included) is torn down when the generator tests end. Nothing
# here changes the process environment; the CLI tests pass DEEPSENTRY_HOME/PASSPHRASE to their subprocess.


@pytest.fixture(scope="package")
def gen_home(tmp_path_factory):
    """A deepsentry home of our own (config/ and data/), used through explicit settings."""
    return tmp_path_factory.mktemp("gen_home")


@pytest.fixture(scope="package")
def settings(gen_home):
    from deepsentry.settings import load_settings

    return load_settings(config_dir=gen_home / "config", data_dir=gen_home / "data")


@pytest.fixture(scope="package")
def media(tmp_path_factory):
    """Photos on disk: the astronaut (consented subject) and another real person (see media.py)."""
    from tests.generator.media import other_person, save_png
    from tests.mediautil import astronaut

    d = tmp_path_factory.mktemp("gen_media")
    return {"astronaut": save_png(d / "astronaut.png", astronaut()),
            "other": save_png(d / "other.png", other_person()),
            "dir": d}


@pytest.fixture(scope="package")
def astronaut_consent(settings, media, tmp_path_factory):
    """A valid consent by the astronaut for swap and animate, expiring next year (not on any ledger)."""
    from deepsentry.generator.consent import create_consent

    out = tmp_path_factory.mktemp("gen_consent") / "astronaut.consent.json"
    signed, key = create_consent(subject_name="Eileen Collins", photo=media["astronaut"], modes=["swap", "animate"],
                                 expires=dt.date.today() + dt.timedelta(days=365), out=out, settings=settings,
                                 creator="test creator", passphrase=PASSPHRASE)
    return {"path": out, "signed": signed, "key": key}


@pytest.fixture(scope="package")
def two_face_clip(tmp_path_factory):
    from tests.mediautil import face_clip

    d = tmp_path_factory.mktemp("gen_clips")
    path, truth = face_clip(d / "two_faces.mp4", seconds=0.8, fps=25, size=(720, 360), faces=2, drift=1)
    return path, truth


@pytest.fixture(scope="package")
def driver(tmp_path_factory):
    from tests.generator.media import driver_clip

    d = tmp_path_factory.mktemp("gen_driver")
    return driver_clip(d / "driver.mp4", n=24, fps=12)


@pytest.fixture(scope="package")
def ledger(settings):
    """A real embedded anvil with the registry deployed and creator keys (C2PA + Ethereum) initialised."""
    from deepsentry.keys import KeyStore
    from deepsentry.ledger import open_registry

    ks = KeyStore(settings.config_dir)
    if not ks.exists():
        ks.init(PASSPHRASE)
    client = open_registry(settings, passphrase=PASSPHRASE)
    yield client
    client.close()
