export { createLogger } from "../server/log";
export { parseLogLines as parseLines } from "./harness";
