"""Shared fixtures: the fixture corpus, two tiny trained generators, a Poet and a started AsyncEngine,
and databases: `database_url` is a fresh SQLite file and, where a server answers, a fresh PostgreSQL
schema (each test gets its own, dropped afterwards).

The tiny models are really trained (a few seconds on CPU, once per session) from the fixture slice
of chinese-poetry in tests/fixtures, so every test that writes poems runs the real code paths.
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pytest
import pytest_asyncio
import torch

from engine.corpus.loader import load_corpus
from engine.decoding.poet import Poet
from engine.serving.async_engine import AsyncEngine, EngineOptions
from engine.training.config import preset
from engine.training.train import train

torch.set_num_threads(1)  # CI has 2 cores; several torch threads per test process only fight

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_CORPUS = FIXTURES / "chinese-poetry"
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"  # CI's server: trust auth, database test


@pytest.fixture(scope="session")
def fixture_poems():
    """The 400-odd real poems of tests/fixtures/chinese-poetry (simplified, classified, split)."""
    return load_corpus(FIXTURE_CORPUS)


@pytest.fixture(scope="session")
def tiny_model_dir(fixture_poems, tmp_path_factory) -> Path:
    """A model dir with gan/ and vae/ checkpoints, trained here in a few seconds (~4 s on one core)."""
    root = tmp_path_factory.mktemp("tiny-models")
    started = time.perf_counter()
    for model in ("gan", "vae"):
        cfg = preset("tiny", model=model, out_dir=root / f"run-{model}")
        final = train(cfg, fixture_poems, verbose=False)
        shutil.copytree(final, root / model)
    print(f"\ntiny models trained in {time.perf_counter() - started:.1f}s")
    return root


@pytest.fixture(scope="session")
def tiny_poet(tiny_model_dir) -> Poet:
    return Poet.load(tiny_model_dir, device="cpu")


def engine_options(**overrides) -> EngineOptions:
    """Engine options for tests: a generous timeout (CI machines are slow and shared)."""
    return EngineOptions(**{"request_timeout_s": 60.0, **overrides})


@pytest_asyncio.fixture(loop_scope="session")
async def tiny_engine(tiny_poet):
    """A started AsyncEngine over the tiny models, one per test.

    Set up on the session loop (the Telegram and Discord tests run there); a test on its own
    function loop works too: the engine moves its batcher to the loop that first uses it.
    """
    engine = AsyncEngine(tiny_poet, engine_options())
    await engine.start()
    yield engine
    await engine.close()


@pytest.fixture
def postgres_url():
    """A fresh schema of the test database, dropped afterwards; the URL points its search_path there.
    Skipped, saying why, where psycopg is missing or no server answers."""
    try:
        import psycopg
    except ImportError:
        pytest.skip("psycopg is not installed (it comes with the test extra: pip install -e '.[test]')")
    try:
        admin = psycopg.connect(POSTGRES.replace("+psycopg", ""), connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as e:
        pytest.skip(f"no PostgreSQL answers at {POSTGRES}: {str(e).strip()}")
    schema = f"yinshi_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """A fresh database of each kind: a SQLite file in tmp_path, then a PostgreSQL schema. A test
    for one kind only: @pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'yinshi.db'}"
    return request.getfixturevalue("postgres_url")
