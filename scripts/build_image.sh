#!/usr/bin/env bash
# The pipeline's one agent image build per source commit (stacks/pipeline_stack.py, step BuildImage): builds
# agent_src for linux/arm64, pushes it to the pipeline's repository tagged with the commit, and writes its
# reference by digest to image/reference for the synth step (`make synth IMAGE=...`). A re-run for the same
# commit (a retried execution) finds the tag (the repository's tags are immutable) and reuses its digest.
# Needs: IMAGE_REPOSITORY (<account>.dkr.ecr.<region>.amazonaws.com/<name>), COMMIT_ID; docker, aws CLI.
set -euo pipefail
: "${IMAGE_REPOSITORY:?IMAGE_REPOSITORY is not set}" "${COMMIT_ID:?COMMIT_ID is not set}"
registry="${IMAGE_REPOSITORY%%/*}"
name="${IMAGE_REPOSITORY#*/}"

digest_of_commit() {
  aws ecr describe-images --repository-name "$name" --image-ids "imageTag=$COMMIT_ID" \
    --query 'imageDetails[0].imageDigest' --output text 2>/dev/null || true
}

digest="$(digest_of_commit)"
if [[ "$digest" != sha256:* ]]; then
  aws ecr get-login-password | docker login --username AWS --password-stdin "$registry"
  docker build --platform linux/arm64 --tag "$IMAGE_REPOSITORY:$COMMIT_ID" agent_src
  docker push "$IMAGE_REPOSITORY:$COMMIT_ID"
  digest="$(digest_of_commit)"
fi
if [[ "$digest" != sha256:* ]]; then
  echo "build_image: no digest for $IMAGE_REPOSITORY:$COMMIT_ID after the push" >&2
  exit 1
fi
mkdir -p image
echo "$IMAGE_REPOSITORY@$digest" > image/reference
echo "agent image: $(cat image/reference)"
