"""Multi-person image files: defined in the light client (ehps_client.multiperson), whose offline checker applies the
same checks as the web and the workers."""
from __future__ import annotations

from ehps_client.multiperson import (GT_FLAG_META, GT_FLOAT_META, GT_REQUIRED_META, IMAGE_IDS, JOINTS2D, JOINTS3D,
                                     MATCH_JOINTS, MAX_ABS, NUM_JOINTS3D, NUM_VERTICES, SCORES, VERTICES,
                                     MultiPersonFormatError, PersonSet, check_prediction_images, load_person_set)

__all__ = ["GT_FLAG_META", "GT_FLOAT_META", "GT_REQUIRED_META", "IMAGE_IDS", "JOINTS2D", "JOINTS3D", "MATCH_JOINTS",
           "MAX_ABS", "NUM_JOINTS3D", "NUM_VERTICES", "SCORES", "VERTICES", "MultiPersonFormatError", "PersonSet",
           "check_prediction_images", "load_person_set"]
