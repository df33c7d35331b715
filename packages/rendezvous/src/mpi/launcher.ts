// Which MPI launcher (if any) started this process, from the environment it sets for every rank.
// Only the fact matters: rank and size are then MPI's own (MPI_Comm_rank/size), so a batch
// script's single process (Slurm sets SLURM_PROCID there too, but not SLURM_STEP_ID for a
// `srun` step) and a singleton are handled by MPI, not guessed here.

/** Environment variable that places a rank on a named node (tests; odd clusters). */
export const NODE_ID_ENV = "ONECOPY_NODE_ID";

/** The launcher that started this rank, in words, or null. */
export function mpiLauncherOf(env: NodeJS.ProcessEnv): string | null {
  if (env.OMPI_COMM_WORLD_RANK !== undefined && env.OMPI_COMM_WORLD_SIZE !== undefined) return "Open MPI's mpirun";
  if (env.PMIX_RANK !== undefined) return "a PMIx launcher";
  if (env.PMI_RANK !== undefined && env.PMI_SIZE !== undefined) return "an MPICH/Hydra launcher (mpiexec)";
  if (env.SLURM_PROCID !== undefined && env.SLURM_NTASKS !== undefined && env.SLURM_STEP_ID !== undefined) return "Slurm's srun";
  return null;
}
