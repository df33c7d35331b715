export { ENV } from "./env.js";
