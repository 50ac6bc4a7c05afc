# Two entry points: `make demo` (the main job on the shipped models) and `make test`.
# Each first installs whatever is missing, system packages included (Debian/Ubuntu).
PYTHON ?= python3
# The demo needs only a C compiler (for the spectral-mix extension) and libsndfile. The tests also drive
# microphones (PulseAudio, PortAudio) and build small corpora with what the data builders use (TTS engines, sox,
# WordNet, game audio); outside the tests, `centaurus data` installs those itself when it needs them.
DEMO_PACKAGES := gcc libc6-dev libsndfile1
TEST_PACKAGES := libportaudio2 pulseaudio pulseaudio-utils espeak-ng sox flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts libsox-fmt-all wordnet-base fillets-ng-data-cs fillets-ng-data-nl wesnoth-1.16-data

.PHONY: setup demo-setup system-deps demo-deps demo test test-fast bench

# $(call apt_install,PACKAGES): apt-get install those of PACKAGES that are missing.
define apt_install
@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
if [ -n "$$missing" ]; then \
	echo "installing system packages:$$missing"; \
	SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
fi
endef

demo-deps:
	$(call apt_install,$(DEMO_PACKAGES))

system-deps:
	$(call apt_install,$(DEMO_PACKAGES) $(TEST_PACKAGES))

demo-setup: demo-deps
	$(PYTHON) -m pip install -q -e .

setup: system-deps
	$(PYTHON) -m pip install -q -e '.[dev,export]'

demo: demo-setup
	$(PYTHON) -m centaurus_cli.main demo

# The default suite, then the slow/soak tests (exit code 5 = none collected yet).
test: setup
	$(PYTHON) -m pytest -q -m "not slow"
	$(PYTHON) -m pytest -q -m slow || [ $$? -eq 5 ]

test-fast: setup
	$(PYTHON) -m pytest -q -m "not slow"

bench: setup
	$(PYTHON) benchmarks/ssm_layer.py
