// Run by the job guardian (guardian.ts) after the launcher died: `node job-cleanup.js <jobDir>
// <token>` removes the job directory and the job's shared-memory segments, as the launcher
// would have. Not part of the API.
import { basename } from "node:path";
import { removeJobSegments } from "@onecopy/rendezvous";
import { JOB_DIR_PREFIX, removeJobDir } from "./jobdir.js";

const [jobDir, token] = process.argv.slice(2);
if (jobDir && basename(jobDir).startsWith(JOB_DIR_PREFIX)) removeJobDir(jobDir);
if (token && /^[0-9a-f]+$/.test(token)) removeJobSegments(token);
