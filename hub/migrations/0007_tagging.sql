-- kkoji hub schema, part 7: builds between tags (tagBuild, untagBuild, moveBuild, clone-tag).
--
-- Every tag, untag or move leaves a tag_notification row (the notification feature turns
-- rows into mail). A user's own untagBuild (or a bypass call with notify) has no host; a
-- builder's report carries its host and whether a success is worth telling (the tagBuild
-- subtask of a build says no: the build's own notification covers it).
ALTER TABLE tag_notification ALTER COLUMN host_id DROP NOT NULL;
ALTER TABLE tag_notification ADD COLUMN ignore_success BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX tag_notification_by_build ON tag_notification (build_id);
