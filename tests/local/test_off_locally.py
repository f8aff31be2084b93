"""What is off in the local stage, and why, goes into the agent's system prompt: it says so when asked."""

from __future__ import annotations

from local import stage as stage_module
from local.scripted_replies import reply_to
from local.stage import CODE_OFF, LocalStage, Options, _system_prompt


def local_stage(tmp_path) -> LocalStage:
    return LocalStage(Options(state_dir=tmp_path, cdk_out=tmp_path, model="scripted", environ={}))


def test_the_browser_runs_only_with_allowed_sites_and_an_installed_chromium(tmp_path, monkeypatch):
    monkeypatch.setattr(stage_module, "chromium_path", lambda: "/usr/bin/chromium")
    browser, why = local_stage(tmp_path)._browser({"BROWSER_ALLOWED_DOMAINS": "docs.example.com"})
    assert browser is not None and why is None
    assert browser.executable == "/usr/bin/chromium" and browser.profiles_dir == tmp_path / "browser"

    browser, why = local_stage(tmp_path)._browser({})  # the deployed dev stage offers no browser either
    assert (
        browser is None
        and why == "the dev stage allows no sites: set browser_allowed_domains for dev in cdk.json"
    )

    monkeypatch.setattr(stage_module, "chromium_path", lambda: None)
    browser, why = local_stage(tmp_path)._browser({"BROWSER_ALLOWED_DOMAINS": "docs.example.com"})
    assert browser is None and why == "no Chromium is installed here: apt-get install chromium"


def test_the_prompt_names_what_is_off_and_the_scripted_model_repeats_it(tmp_path, monkeypatch):
    monkeypatch.setattr(stage_module, "chromium_path", lambda: None)
    _, why = local_stage(tmp_path)._browser({"BROWSER_ALLOWED_DOMAINS": "docs.example.com"})
    prompt = _system_prompt({"SYSTEM_PROMPT": "Be helpful."}, [CODE_OFF, f"web browsing is off ({why})"])
    assert prompt.startswith("Be helpful.\n\nLocal stage: code execution is off (model-written code is never")
    assert "web browsing is off (no Chromium is installed here" in prompt
    request = {
        "system": [{"text": prompt}],
        "messages": [{"role": "user", "content": [{"text": "browse x"}]}],
    }
    assert "web browsing is off" in reply_to(request).text
