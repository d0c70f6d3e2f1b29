"""Scheduler options: environment, luigi.cfg, defaults, and system checks."""

import pytest

from scheduler import conf, luigi_config
from scheduler.checks import scheduler_configuration


@pytest.fixture
def cfg_file(tmp_path, monkeypatch):
    path = tmp_path / "luigi.cfg"
    monkeypatch.setenv("LUIGI_CONFIG_PATH", str(path))
    monkeypatch.chdir(tmp_path)
    conf.reset()
    yield path
    conf.reset()


def test_luigi_defaults(cfg_file, settings):
    settings.SCHEDULER = {}
    config = conf.build_config()
    assert config.retry_delay == 900.0
    assert config.worker_disconnect_delay == 60.0
    assert config.retry_count == 999999999
    assert config.disable_persist == 86400.0
    assert config.stable_done_cooldown_secs == 10.0
    assert config.pause_enabled is True


def test_luigi_cfg_sections_carry_over(cfg_file, settings):
    settings.SCHEDULER = {}
    cfg_file.write_text(
        "[scheduler]\nretry-delay = 30\nremove_delay = 5\n[resources]\ngpu = 2\ndb = 1\n"
    )
    conf.reset()
    config = conf.get_config()
    assert config.retry_delay == 30.0
    assert config.remove_delay == 5.0
    assert config.resource_limits == {"gpu": 2, "db": 1}


def test_environment_wins_over_file(cfg_file, settings):
    cfg_file.write_text("[scheduler]\nretry_delay = 30\n")
    settings.SCHEDULER = {"retry_delay": "7", "resources": "gpu=4"}
    config = conf.build_config()
    assert config.retry_delay == 7.0
    assert config.resource_limits == {"gpu": 4}


def test_toml_config(tmp_path, monkeypatch, settings):
    path = tmp_path / "luigi.toml"
    path.write_text("[scheduler]\nretry_delay = 12\n[resources]\ngpu = 3\n")
    monkeypatch.setenv("LUIGI_CONFIG_PATH", str(path))
    monkeypatch.setenv("LUIGI_CONFIG_PARSER", "toml")
    settings.SCHEDULER = {}
    luigi_config.clear_cache()
    try:
        config = conf.build_config()
    finally:
        luigi_config.clear_cache()
    assert config.retry_delay == 12.0
    assert config.resource_limits == {"gpu": 3}


def test_bad_option_value_is_a_system_check_error(cfg_file, settings):
    settings.SCHEDULER = {"retry_delay": "soon"}
    errors = scheduler_configuration()
    assert [e.id for e in errors] == ["scheduler.E001"]
    assert "retry_delay" in errors[0].msg


def test_unparsable_file_is_a_system_check_error(cfg_file, settings):
    settings.SCHEDULER = {}
    cfg_file.write_text("this is not = [an ini file\n[unclosed")
    conf.reset()
    errors = scheduler_configuration()
    assert [e.id for e in errors] == ["scheduler.E002"]


def test_good_configuration_passes_checks(cfg_file, settings):
    settings.SCHEDULER = {}
    assert scheduler_configuration() == []
