// Failed-attempt reports waiting for the network, oldest first. They hold no code and no token: the
// delivery id, the outcome, the issue number the report was made against and its Idempotency-Key.
const PENDING = "courier.pending-attempts";

export const pending = () => JSON.parse(localStorage.getItem(PENDING) || "[]");
const save = (items) => localStorage.setItem(PENDING, JSON.stringify(items));
export const keep = (item) => save([...pending(), item]);
export const forget = (key) => save(pending().filter((item) => item.key !== key));
