"""Config parsing, image choice and Grid status parsing (no Docker, no network)."""

import dataclasses

import pytest

from farm.core.browser_option import parse_browser_option
from farm.core.catalogue import GRID_VERSION
from farm.core.config import FarmConfig, load_config, parse_browsers, parse_counts, parse_images
from farm.core.errors import ConfigError, ImageError, UsageError
from farm.infra.grid import GridClient, GridStatus, parse_node
from farm.infra.images import choose_images


def test_parse_browsers_is_case_insensitive_and_dedupes():
    assert parse_browsers("Chrome, firefox,chrome") == ("chrome", "firefox")


def test_unknown_browser_lists_known_ones():
    with pytest.raises(UsageError, match="unknown browser 'safari': choose from chrome, firefox, edge"):
        parse_browsers("chrome,safari")


@pytest.mark.parametrize("text", ["chrome", "chrome=two", "chrome:2", "=3"])
def test_malformed_nodes(text):
    with pytest.raises(UsageError, match="malformed --nodes entry"):
        parse_counts(text)


def test_nodes_parsed():
    assert parse_counts("chrome=2, firefox=0") == {"chrome": 2, "firefox": 0}


@pytest.mark.parametrize("ref", ["evil;rm -rf /", "a b", "$(id)", "x`y`"])
def test_image_refs_with_shell_metacharacters_are_refused(ref):
    with pytest.raises(UsageError, match="not a valid image reference"):
        parse_images(f"chrome={ref}")


def test_config_file_values_and_flag_overrides(tmp_path):
    (tmp_path / "farm.toml").write_text('browsers = ["firefox"]\nmax_sessions = 3\n[nodes]\nfirefox = 2\n')
    config = load_config(tmp_path, max_sessions=4)
    assert config.browsers == ("firefox",) and config.max_sessions == 4 and config.node_count("firefox") == 2


def test_pyproject_tool_farm_table(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.farm]\nhub_port = 4555\n')
    assert load_config(tmp_path).grid_url == "http://127.0.0.1:4555"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("max_sesions = 2\n", "unknown key 'max_sesions'"),
        ('max_sessions = "2"\n', "key 'max_sessions' has the wrong type"),
        ("offline = 1\n", "key 'offline' has the wrong type"),
        ("browsers = [\n", "not valid TOML"),
        ('browsers = ["opera"]\n', "unknown browser 'opera'"),
        ("max_sessions = 99\n", "max_sessions: 99 must be from 1 to 16"),
        ('name = "Bad Name!"\n', "name: 'Bad Name!'"),
        ('[images]\nchrome = "x;y"\n', "not a valid image reference"),
    ],
)
def test_bad_config_names_the_key(tmp_path, content, message):
    (tmp_path / "farm.toml").write_text(content)
    with pytest.raises(UsageError, match=message):
        load_config(tmp_path)


def test_config_error_is_a_usage_error():
    assert issubclass(ConfigError, UsageError)


def choose(config, present=(), pullable=()):
    return choose_images(config, config.browsers, lambda ref: ref in present, lambda ref: ref in pullable)


def test_auto_prefers_present_official_then_local_with_a_note():
    config = FarmConfig(browsers=("chrome",))
    official = choose(config, present={f"selenium/hub:{GRID_VERSION}", f"selenium/node-chrome:{GRID_VERSION}"})
    assert official.nodes["chrome"] == f"selenium/node-chrome:{GRID_VERSION}" and not official.notes
    local = choose(config, present={f"farm-local/hub:{GRID_VERSION}", f"farm-local/node-chrome:{GRID_VERSION}"})
    assert local.hub == f"farm-local/hub:{GRID_VERSION}" and "using the locally built" in local.notes[0]


def test_auto_pulls_when_nothing_is_present():
    config = FarmConfig(browsers=("chrome",))
    choice = choose(config, pullable={f"selenium/hub:{GRID_VERSION}", f"selenium/node-chrome:{GRID_VERSION}"})
    assert choice.hub == f"selenium/hub:{GRID_VERSION}"


def test_nothing_available_says_to_build():
    with pytest.raises(ImageError, match="run `farm images build`"):
        choose(FarmConfig(browsers=("chrome",)))


def test_edge_without_image_names_official_image_and_override():
    config = FarmConfig(browsers=("edge",), image_set="local")
    with pytest.raises(ImageError, match=rf"selenium/node-edge:{GRID_VERSION} cannot be pulled.*--image edge="):
        choose(config, present={f"farm-local/hub:{GRID_VERSION}"})


def test_override_wins():
    config = FarmConfig(browsers=("edge",), images={"edge": "mirror/node-edge:1"})
    choice = choose(config, present={"mirror/node-edge:1", f"farm-local/hub:{GRID_VERSION}"})
    assert choice.nodes["edge"] == "mirror/node-edge:1"


def raw_node(browser, slots, busy, availability="UP"):
    return {
        "id": f"{browser}-node",
        "uri": "http://10.0.0.2:5555",
        "availability": availability,
        "slots": [
            {"stereotype": {"browserName": browser, "browserVersion": "1.0"}, "session": {"id": "s"} if i < busy else None}
            for i in range(slots)
        ],
    }


def test_grid_status_capacity_and_json_shape():
    nodes = [
        parse_node(raw_node("chrome", 2, 1)),
        parse_node(raw_node("chrome", 2, 0)),
        parse_node(raw_node("MicrosoftEdge", 1, 0)),
        parse_node(raw_node("firefox", 4, 0, "DOWN")),
    ]
    status = GridStatus("http://127.0.0.1:4444", True, GRID_VERSION, 3, nodes)
    assert status.slots() == {"chrome": 4, "edge": 1}
    assert status.to_json() == {
        "grid_url": "http://127.0.0.1:4444",
        "ready": True,
        "version": GRID_VERSION,
        "queue": 3,
        "browsers": {
            "chrome": {"nodes": 2, "slots": 4, "busy": 1, "version": "1.0"},
            "edge": {"nodes": 1, "slots": 1, "busy": 0, "version": "1.0"},
        },
        "pools": [{"browsers": ["chrome"], "sessions": 4}, {"browsers": ["edge"], "sessions": 1}],  # nodes report no maxSessions
    }


def test_environment_overrides_file_and_flags_override_environment(tmp_path):
    (tmp_path / "farm.toml").write_text('name = "from-file"\nhub_port = 4500\n')
    env = {"FARM_NAME": "job-17", "FARM_HUB_PORT": "4501", "FARM_OFFLINE": "yes"}
    config = load_config(tmp_path, environ=env)
    assert (config.name, config.hub_port, config.offline) == ("job-17", 4501, True)
    assert load_config(tmp_path, environ=env, hub_port=4502).hub_port == 4502


# every key, a FARM_<KEY> text and the value it gives: tables and lists as their flags take them
ENV_SAMPLES = {
    "name": ("job-17", "job-17"),
    "browsers": ("firefox,chrome", ("firefox", "chrome")),
    "nodes": ("chrome=2,firefox=1", {"chrome": 2, "firefox": 1}),
    "max_sessions": ("3", 3),
    "hub_host": ("0.0.0.0", "0.0.0.0"),
    "hub_port": ("4501", 4501),
    "image_set": ("local", "local"),
    "images": (f"hub=registry.example/selenium/hub:{GRID_VERSION}", {"hub": f"registry.example/selenium/hub:{GRID_VERSION}"}),
    "session_timeout": ("120", 120),
    "startup_timeout": ("30.5", 30.5),
    "offline": ("yes", True),
    "docker_host": ("tcp://127.0.0.1:2375", "tcp://127.0.0.1:2375"),
    "reports_dir": ("out/reports", "out/reports"),
    "video": ("failed", "failed"),
    "isolation": ("session", "session"),
    "capacity": ("shared", "shared"),
    "mode": ("swarm", "swarm"),
    "registry": ("127.0.0.1:5000", "127.0.0.1:5000"),
    "app_dir": ("web/dist", "web/dist"),
    "browser_option": ("--browser=chrome:Chrome,firefox:Firefox", "--browser=chrome:Chrome,firefox:Firefox"),
    "report_generator": ("allure3", "allure3"),
}


def test_every_key_has_a_sample_here():
    assert set(ENV_SAMPLES) == {f.name for f in dataclasses.fields(FarmConfig)}


@pytest.mark.parametrize("key", ENV_SAMPLES)
def test_every_key_has_its_environment_variable(tmp_path, key):
    """README: every key has a FARM_<KEY> variable (FARM_ISOLATION=context was once ignored)."""
    raw, value = ENV_SAMPLES[key]
    assert getattr(FarmConfig(), key) != value
    assert getattr(load_config(tmp_path, environ={f"FARM_{key.upper()}": raw}), key) == value


def test_where_the_farm_was_started_beats_file_and_environment_and_flags_beat_it(tmp_path):
    (tmp_path / "farm.toml").write_text("hub_port = 4501\n")
    started = {"hub_port": 4460, "docker_host": "tcp://127.0.0.1:2375"}
    config = load_config(tmp_path, environ={"FARM_HUB_PORT": "4502"}, started=started)
    assert config.grid_url == "http://127.0.0.1:4460" and config.docker_host == "tcp://127.0.0.1:2375"
    assert load_config(tmp_path, environ={}, started=started, hub_port=4444).hub_port == 4444


def test_bad_environment_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="FARM_HUB_PORT='x' is not a valid int"):
        load_config(tmp_path, environ={"FARM_HUB_PORT": "x"})


def test_node_counts_widen_farm_up_but_never_farm_test(tmp_path):
    (tmp_path / "farm.toml").write_text('browsers = ["chrome"]\nnodes = {firefox = 1, edge = 0}\n')
    config = load_config(tmp_path, environ={})
    assert config.browsers == ("chrome",)  # what `farm test` runs
    assert config.farm_browsers() == ("chrome", "firefox")  # what `farm up` starts
    assert load_config(tmp_path, environ={}, browsers=("firefox",)).browsers == ("firefox",)


def test_a_suites_browser_option_is_parsed_with_its_spelling(tmp_path):
    option = parse_browser_option("--browser-name=chrome:Chrome,firefox:Firefox")
    assert (option.target, option.dest, option.variable) == ("--browser-name", "browser_name", None)
    assert (option.value("chrome"), option.value("firefox"), option.value("edge")) == ("Chrome", "Firefox", "edge")
    variable = parse_browser_option("$UI_BROWSER")
    assert (variable.variable, variable.value("firefox")) == ("UI_BROWSER", "firefox")
    for bad in ("browser", "-b", "--browser=safari:Safari", "--browser=chrome", "$1X"):
        with pytest.raises(ConfigError, match="browser_option"):
            parse_browser_option(bad)
    with pytest.raises(ConfigError, match="browser_option"):
        load_config(tmp_path, environ={"FARM_BROWSER_OPTION": "browser"})


def test_dashs_option_is_known_only_with_dashs_values():
    from farm.core.browser_option import KNOWN_OPTIONS

    webdriver_option = KNOWN_OPTIONS[0]
    assert webdriver_option.known_in("Chrome") and webdriver_option.known_in("Firefox")
    assert not webdriver_option.known_in("/usr/bin/chromedriver") and not webdriver_option.known_in(None)


class ScriptedGrid(GridClient):
    """A Grid whose /status answers come from a list (the last repeats), counting what is asked."""

    def __init__(self, *answers: list[dict[str, object]]) -> None:
        super().__init__("http://hub:4444")
        self.answers = list(answers)
        self.asked: list[str] = []

    def _get_json(self, path: str) -> dict[str, object]:
        self.asked.append(path)
        nodes = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return {"value": {"ready": bool(nodes), "nodes": nodes}}

    def graphql(self, query: str, variables: dict[str, object] | None = None) -> dict[str, object]:
        self.asked.append("graphql")
        return {"grid": {"version": "4.48.0 (revision x)", "sessionQueueSize": 0}}


def test_waiting_for_slots_polls_status_and_asks_the_grid_info_once_at_the_end():
    """A cold hub took 0.1-0.3 s per GraphQL answer while its nodes started: only /status is polled."""
    chrome = {"id": "n1", "uri": "http://n1:5555", "availability": "UP", "slots": [{"stereotype": {"browserName": "chrome"}}]}
    grid = ScriptedGrid([], [], [chrome])
    status = grid.wait_for({"chrome": 1}, timeout=5, interval=0.01)
    assert grid.asked == ["/status", "/status", "/status", "graphql"]
    assert status.version == "4.48.0" and status.slots() == {"chrome": 1}
