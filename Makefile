# ctrack: `make demo` runs the main job on built-in data, `make test` runs the test suite.
# Both create and reuse .venv/ in this checkout.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# This machine's disk carries these builds; pip takes them from there quickly.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed

.PHONY: install test demo demo-mixformerv2 demo-search demo-elastic teacher teacher-mixformerv2 clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q $(TORCH_PINS)
	$(PY) -m pip install -q -e '.[test]'
	# vot-toolkit and got10k pull in opencv-python beside the headless wheel and both own cv2/: keep only the
	# headless build (no GUI libraries needed; the same API)
	$(PY) -m pip uninstall -q -y opencv-python
	$(PY) -m pip install -q --force-reinstall --no-deps opencv-python-headless
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest tests

demo: $(STAMP)
	$(VENV)/bin/ctrack demo

# The same road with the built-in 8-block MixFormerV2 teacher (its network, online tracker and guidance).
demo-mixformerv2: $(STAMP)
	$(VENV)/bin/ctrack demo --teacher-family mixformerv2

# LightTrack's one-shot search on the tiny space: supernet, search, retrain (CPU minutes).
demo-search: $(STAMP)
	$(VENV)/bin/ctrack demo --search --out demo-search-out

# One elastic compression run of the built-in teacher, a search under each fixed CT-k latency on this CPU (OpenVINO fp32),
# the found students beside fixed CT-2/CT-3/CT-4 runs (about 40 CPU minutes on 2 cores).
demo-elastic: $(STAMP)
	$(VENV)/bin/ctrack demo --elastic --backend openvino --out demo-elastic-out

# Rebuild the built-in teacher shipped in compresstracker/assets/ (CPU: about 75 minutes on 2 cores; TEACHER_DEVICE=cuda: minutes).
TEACHER_RUN ?= runs/builtin-teacher
TEACHER_DEVICE ?= cpu
teacher: $(STAMP)
	$(VENV)/bin/ctrack data synth --layout lasot --out $(TEACHER_RUN)/data --sequences 80 --frames 150 --seed 11
	$(VENV)/bin/ctrack train -r ostrack_tiny --data lasot=$(TEACHER_RUN)/data:all --out $(TEACHER_RUN) --device $(TEACHER_DEVICE) --resume
	cp $(TEACHER_RUN)/model.safetensors compresstracker/assets/teacher_tiny.safetensors
	cp $(TEACHER_RUN)/log.jsonl compresstracker/assets/teacher_tiny.log.jsonl
	cp $(TEACHER_RUN)/config.yaml compresstracker/assets/teacher_tiny.config.yaml

clean:
	rm -rf $(VENV) build *.egg-info

# Rebuild the built-in MixFormerV2 teacher (8 blocks, 64 wide): its blocks start from the built-in OSTrack
# teacher's, then the box stage and the score stage (CPU, 1 thread: about an hour on a busy 2-core machine).
MFX_RUN ?= runs/builtin-mixformerv2
teacher-mixformerv2: $(STAMP)
	$(VENV)/bin/ctrack data synth --layout lasot --out $(MFX_RUN)/data --sequences 80 --frames 150 --seed 11
	$(VENV)/bin/ctrack train -r mixformerv2_teacher_tiny --init compresstracker/assets/teacher_tiny.safetensors --data lasot=$(MFX_RUN)/data:all --out $(MFX_RUN)/box --device $(TEACHER_DEVICE) --resume
	$(VENV)/bin/ctrack train -r mixformerv2_tiny_score model.arch=ctrack_mixformerv2_tiny --init $(MFX_RUN)/box/model.safetensors --data lasot=$(MFX_RUN)/data:all --out $(MFX_RUN)/score --device $(TEACHER_DEVICE) --resume
	cp $(MFX_RUN)/score/model.safetensors compresstracker/assets/teacher_mixformerv2_tiny.safetensors
	cat $(MFX_RUN)/box/log.jsonl $(MFX_RUN)/score/log.jsonl > compresstracker/assets/teacher_mixformerv2_tiny.log.jsonl
	cat $(MFX_RUN)/box/config.yaml > compresstracker/assets/teacher_mixformerv2_tiny.config.yaml
	echo "---" >> compresstracker/assets/teacher_mixformerv2_tiny.config.yaml
	cat $(MFX_RUN)/score/config.yaml >> compresstracker/assets/teacher_mixformerv2_tiny.config.yaml
