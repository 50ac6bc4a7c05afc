# Two entry points: `make demo` (the main job on the shipped models) and `make test`.
# Each first installs whatever is missing, system packages included (Debian/Ubuntu).
PYTHON ?= python3
APT_PACKAGES := gcc libc6-dev libsndfile1 libportaudio2 pulseaudio pulseaudio-utils espeak-ng sox flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts libsox-fmt-all wordnet-base fillets-ng-data-cs fillets-ng-data-nl wesnoth-1.16-data

.PHONY: setup system-deps demo test test-fast bench

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

setup: system-deps
	$(PYTHON) -m pip install -q -e '.[dev,export]'

demo: setup
	$(PYTHON) -m centaurus_cli.main demo

# The default suite, then the slow/soak tests (exit code 5 = none collected yet).
test: setup
	$(PYTHON) -m pytest -q -m "not slow"
	$(PYTHON) -m pytest -q -m slow || [ $$? -eq 5 ]

test-fast: setup
	$(PYTHON) -m pytest -q -m "not slow"

bench: setup
	$(PYTHON) benchmarks/ssm_layer.py
