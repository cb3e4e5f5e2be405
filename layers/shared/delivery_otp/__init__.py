"""delivery-otp: one-time delivery codes for valuable parcels.

The package is the Lambda layer shared by every function. Handlers in ``functions/`` stay thin and
call the use cases, one module each (registration, reads, dispatch, controls, delegates, bounces,
rotation, verification, attempts) over what they share (:mod:`delivery_otp.deliveries`,
:mod:`delivery_otp.issuing`); nothing above :mod:`delivery_otp.adapters` touches the AWS SDK, so the
tests and the local stack swap adapters through :mod:`delivery_otp.wiring`.
"""
